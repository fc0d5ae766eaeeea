"""The mixin through which tests create server resources that the run cleans up.

Anything a test creates on the server goes through :class:`TrackedResourcesMixin`,
which records the intent before the call and the new id the moment the server
returns it.  At exit the cleaner removes exactly what was recorded, and nothing
else.  Another unittest suite uses it the same way::

    import unittest
    from cocalc_api_tests import TrackedResourcesMixin, get_session

    def setUpModule():
        get_session()

    class MyTests(TrackedResourcesMixin, unittest.TestCase):
        def test_something(self):
            project_id = self.create_tracked_project(title="mine")
            ...
"""
from typing import Any, Dict, List, Optional, Sequence

from .session import Session, get_session


class TrackedResourcesMixin:
    """Mix into a ``unittest.TestCase`` to create server resources that are cleaned up.

    The resources are made through the process-wide session
    (:func:`cocalc_api_tests.get_session`) and tracked there.  With a project-scoped key,
    which CoCalc's hub refuses, each ``create_tracked_*`` skips the test instead
    (:class:`~cocalc_api_tests.session.AccountKeyNeeded`).
    """

    @property
    def session(self) -> Session:
        """The process-wide session (built on first use)."""
        return get_session()

    def create_tracked_project(self, **kwargs: Any) -> str:
        """``projects.createProject(**kwargs)``, tracked; returns the project id.

        *title* defaults to a unique name (the cleaner finds the row by it after a crash).
        """
        return self.session.create_project(**kwargs)

    def create_tracked_user(self, org_name: str, **kwargs: Any) -> str:
        """``org.createUser(name=org_name, **kwargs)``, tracked; returns the account id.

        *email* defaults to a unique address; the account's first project is
        removed with the account.
        """
        return self.session.create_user(org_name, **kwargs)

    def create_tracked_org(self, name: str) -> str:
        """``org.create(name)``, tracked; returns the organization id."""
        return self.session.create_org(name)

    def create_tracked_api_key(self, project_id: str, name: Optional[str] = None, expire: Optional[str] = None) -> Dict[str, Any]:
        """A new API key scoped to *project_id* (``system.manageApiKeys`` create), tracked.

        Returns the created key's row, ``secret`` included.  Only project-scoped keys
        are made: an account-wide key would belong to the protected key owner.
        """
        return self.session.create_api_key(project_id, name=name, expire=expire)

    def create_tracked_license(self, **fields: Any) -> str:
        """A site license written with ``db.userQuery`` on ``site_licenses`` (site admins only), tracked."""
        return self.session.create_license(**fields)

    def send_tracked_message(self, subject: str, body: str, to_ids: Sequence[str], reply_id: Optional[int] = None) -> int:
        """``messages.send``, tracked; returns the message id."""
        return self.session.send_message(subject, body, to_ids, reply_id=reply_id)

    def track_message(self, message_id: int) -> None:
        """Track a message this test caused (e.g. through ``org.message``), so the cleaner deletes it."""
        self.session.tracker.add("message", message_id)

    def tracked_event(self, prefix: str = "event") -> str:
        """A unique tag for rows a test writes into CoCalc's logging tables, tracked for deletion."""
        return self.session.tracked_event(prefix)

    def tracked_ids(self, kind: str) -> List[str]:
        """The ids of *kind* this run has tracked so far."""
        return self.session.tracker.ids(kind)
