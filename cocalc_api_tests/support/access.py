"""Who the tests call as: other keys' clients, refusals that come late, and the site-admin gate.

>>> @requires_site_admin
... class TestQuotas(APITestCase): ...
>>> admin_only_tests(unittest.defaultTestLoader.loadTestsFromName("cocalc_api_tests"))   # what skips for others

A gate is a class decorator, so gates and helper mixins compose without a diamond of
base classes.
"""
import unittest
from typing import Any, Callable, Iterable, List, Optional, TypeVar

from ..client import Hub, ScopedProject
from ..errors import CoCalcAPIError, CoCalcError
from ..poll import poll
from ..session import KEY_PROJECT, get_session
from ..text import format_args
from .core import SECOND_ACCOUNT_REASON, APITestCase, remote_name

C = TypeVar("C", bound=type)

#: Why the tests of admin-only calls do not run for other keys.
NOT_ADMIN_REASON = (
    "the API key is not a site admin's (its accounts.groups lacks 'admin' and org.getAll refuses it); "
    "admin-only calls untested"
)
#: Seconds CoCalc may go on accepting a deleted or expired API key (its key lookup is cached for 15 s).
KEY_CACHE_WAIT = 45.0


#: The attribute :func:`requires_site_admin` sets on a class it gates (read by :func:`admin_only_reason`).
GATE_MARK = "requires_site_admin"


def requires_site_admin(cls: C) -> C:
    """Class decorator: skip the class, with :data:`NOT_ADMIN_REASON`, unless the key is a site admin's.

    A project-scoped key skips it with its own reason (:data:`~cocalc_api_tests.session.PROJECT_KEY_REASON`).
    """
    own = cls.__dict__.get("setUpClass")
    setattr(cls, GATE_MARK, True)

    def setUpClass(klass: Any) -> None:  # noqa: N802 (unittest's name)
        session = get_session()
        session.require_account_key()
        if not session.is_site_admin:
            raise unittest.SkipTest(NOT_ADMIN_REASON)
        if own is not None:
            own.__func__(klass)
        else:
            super(cls, klass).setUpClass()

    cls.setUpClass = classmethod(setUpClass)  # type: ignore[attr-defined]
    return cls


def admin_only_reason(test: unittest.TestCase) -> Optional[str]:
    """Why *test* skips for a key that is not a site admin's, or ``None`` if it runs for any account's key.

    A test skips for one of two reasons: its class is gated by :func:`requires_site_admin`
    (:data:`NOT_ADMIN_REASON`), or the test makes a second account
    (:meth:`~.core.APITestCase.create_other_account`, :data:`~.core.SECOND_ACCOUNT_REASON`).
    """
    if getattr(type(test), GATE_MARK, False):
        return NOT_ADMIN_REASON
    method = getattr(type(test), getattr(test, "_testMethodName", ""), None)
    if "create_other_account" in getattr(getattr(method, "__code__", None), "co_names", ()):
        return SECOND_ACCOUNT_REASON
    return None


def admin_only_tests(tests: Iterable[Any]) -> List[unittest.TestCase]:
    """The tests of *tests* (a suite, nested or not) that skip for a key that is not a site admin's."""
    found: List[unittest.TestCase] = []
    for item in tests:
        if isinstance(item, unittest.TestSuite):
            found.extend(admin_only_tests(item))
        elif isinstance(item, unittest.TestCase) and admin_only_reason(item) is not None:
            found.append(item)
    return found


class KeyTestCase(APITestCase):
    """Helpers for tests that call the bridges with other keys and wait for refusals."""

    def hub_with_key(self, api_key: Optional[str]) -> Hub:
        """A hub client using *api_key* (``None``: no key), closed with the session."""
        return self.session.client(api_key)  # type: ignore[return-value]

    def project_with_key(self, api_key: Optional[str], project_id: Optional[str] = None) -> ScopedProject:
        """A project-endpoint client using *api_key*, naming *project_id* only if given."""
        return self.session.client(api_key, project_id or KEY_PROJECT)  # type: ignore[return-value]

    def assertRefusedWithin(self, method: Callable, *args: Any, contains: str, timeout: float, **kwargs: Any) -> str:
        """Repeat the call until it is refused with an error containing *contains*; the error text."""
        description = f"{remote_name(method)}({format_args(args, kwargs)})"

        def attempt() -> Optional[str]:
            try:
                method(*args, **kwargs)
            except CoCalcAPIError as err:
                if err.transient:
                    raise
                return err.message
            return None

        try:
            text = poll(attempt, timeout=timeout, interval=1.0, accept=lambda t: t is not None, what=f"refusal of {description}")
        except (TimeoutError, CoCalcError) as err:
            self.fail(f"{description} was still not refused after {timeout:g} s: {err}")
        self.assertIn(contains, text, f"{description} was refused with {text!r}; expected {contains!r}")
        return text
