"""``purchases.getBalance`` and ``purchases.getMinBalance``: the key's account's money, read only.

CoCalc computes the balance from the ``purchases`` table and saves it in
``accounts.balance`` (at most every two minutes), so both calls are checked
against the account row read through ``db.userQuery``.
"""
from typing import Any

from .session import get_session
from .support import APITestCase

#: How far two readings of a ``real`` balance may differ.
TOLERANCE = 1e-6


def setUpModule() -> None:
    get_session()


class TestBalances(APITestCase):
    def assertNumber(self, value: Any, what: str) -> float:
        self.assertIsInstance(value, (int, float), f"{what} is {value!r}")
        self.assertNotIsInstance(value, bool, f"{what} is {value!r}")
        return float(value)

    def account(self) -> dict:
        return self.call(self.hub.db.query, {"accounts": {"balance": None, "min_balance": None}})["accounts"]

    def test_balance_is_stable_and_saved_in_the_account(self) -> None:
        first = self.assertNumber(self.call(self.hub.purchases.get_balance), "purchases.getBalance")
        second = self.assertNumber(self.call(self.hub.purchases.get_balance), "a second purchases.getBalance")
        self.assertAlmostEqual(first, second, delta=TOLERANCE)
        saved = self.account().get("balance")
        self.assertIsNotNone(saved, "getBalance saves the balance in accounts.balance, but it is null")
        self.assertAlmostEqual(float(saved), first, delta=TOLERANCE)

    def test_min_balance_is_the_accounts_or_zero(self) -> None:
        value = self.assertNumber(self.call(self.hub.purchases.get_min_balance), "purchases.getMinBalance")
        self.assertAlmostEqual(value, float(self.account().get("min_balance") or 0), delta=TOLERANCE)
