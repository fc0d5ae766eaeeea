"""Hub ``purchases.*`` reads: an account's balance and its lowest allowed balance.

As in CoCalc (``server/purchases/get-balance.ts``): the balance is minus the sum
of the account's purchases (a purchase without a final ``cost`` counts what it
has cost so far, or its hourly rate over the time it has run), computed in
PostgreSQL's ``real``; each computation is also saved in ``accounts.balance``,
at most once every two minutes per account.
"""
import threading
import time
from typing import Any, Dict, List, Union

from .api_common import opts_of

#: CoCalc's expression for the cost of one purchase, finished or still metered.
COST_OR_METERED_COST = (
    "COALESCE(cost::decimal, COALESCE(cost_so_far::decimal, cost_per_hour * "
    "EXTRACT(EPOCH FROM (COALESCE(period_end, NOW()) - period_start)) / 3600)::decimal)::real"
)
#: Seconds between two saves of one account's balance.
BALANCE_SAVE_INTERVAL = 120.0
_saved: Dict[str, float] = {}
_saved_lock = threading.Lock()


def _number(value: Any) -> Union[int, float]:
    """A PostgreSQL number (as text, the way node-postgres reads it) as JSON writes it."""
    value = float(value or 0)
    return int(value) if value.is_integer() else value


def getBalance(app: Any, args: List[Any]) -> Union[int, float]:
    """Minus the sum of the caller's purchases (0 without any); saved in ``accounts.balance``."""
    account_id = opts_of(args).get("account_id")
    row = app.store.one(
        f"SELECT (-SUM({COST_OR_METERED_COST}))::TEXT AS balance FROM purchases WHERE account_id=:a", a=account_id
    )
    balance = float(row["balance"]) if row and row["balance"] is not None else 0.0
    now = time.monotonic()
    with _saved_lock:
        due = now - _saved.get(account_id, -BALANCE_SAVE_INTERVAL) >= BALANCE_SAVE_INTERVAL
        if due:
            _saved[account_id] = now
    if due:
        app.store.query("UPDATE accounts SET balance=:b WHERE account_id=:a", b=balance, a=account_id)
    return _number(balance)


def getMinBalance(app: Any, args: List[Any]) -> Union[int, float]:
    """The caller's ``accounts.min_balance``, 0 when unset."""
    row = app.store.one(
        "SELECT min_balance::TEXT AS min_balance FROM accounts WHERE account_id=:a", a=opts_of(args).get("account_id")
    )
    return _number((row or {}).get("min_balance"))


FUNCTIONS = {"getBalance": getBalance, "getMinBalance": getMinBalance}
