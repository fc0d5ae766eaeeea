"""The hub's ``db.*`` calls: the user query's write form, activity, file-use times and legacy history.

Everything written lands on tracked projects and accounts (``projects`` rows,
``file_use`` rows tied to them, a tracked account's ``last_active``); the other
calls read, or are no-ops with random ids.
"""
import time
import uuid

from .actors import Actors
from .session import get_session
from .support import EVENTUAL_WAIT, NO_DATABASE_REASON, APITestCase, database_configured, parse_time, table_scans

#: Seconds PostgreSQL may take to publish a statement's scan of a table (its statistics' idle flush, 10 s).
STATS_WAIT = 60.0


def setUpModule() -> None:
    get_session()


class TestUserQuerySet(APITestCase):
    def test_set_title_and_description_then_read_back(self) -> None:
        project_id = self.create_tracked_project()
        values = {"title": self.unique_name("set"), "description": "set through userQuery ✓ ü 中"}
        answer = self.call(self.hub.db.query, {"projects": dict(values, project_id=project_id)})
        self.assertEqual(answer, {}, "a set query answers an empty object")
        row = self.project_row(project_id, "title", "description")
        self.assertEqual({k: row.get(k) for k in values}, values)

    def test_set_refusals(self) -> None:
        project_id = self.create_tracked_project()
        missing = str(uuid.uuid4())
        self.assertCallFails(
            self.hub.db.query, {"projects": {"project_id": missing, "title": "x"}},
            contains=f"FATAL: unknown project_id '{missing}'",
        )
        self.assertCallFails(
            self.hub.db.query, {"projects": {"project_id": project_id, "created": "2020-01-01T00:00:00.000Z"}},
            contains="FATAL: changing projects.created not allowed",
        )
        self.assertNotEqual(self.project_row(project_id, "created").get("created", "")[:10], "2020-01-01")


class TestTouch(APITestCase):
    def test_touch_project_records_activity(self) -> None:
        project_id = self.create_tracked_project()
        self.assertIsNone(self.call(self.hub.db.touch, project_id=project_id))
        row = self.project_row(project_id, "last_active")
        stamp = (row.get("last_active") or {}).get(self.session.account_id)
        self.assertIsNotNone(stamp, f"db.touch left last_active {row!r}")
        self.assertRecent(parse_time(stamp), "last_active after db.touch")

    def test_touch_a_file_records_its_use(self) -> None:
        project_id = self.create_tracked_project()
        path = f"{self.unique_name('touched')}.txt"
        self.assertIsNone(self.call(self.hub.db.touch, project_id=project_id, path=path, action="edit"))
        answer = self.call(
            self.hub.db.query, {"file_use": [{"project_id": project_id, "path": path, "users": None, "last_edited": None}]}
        )
        rows = answer.get("file_use")
        self.assertEqual(len(rows or []), 1, f"file_use after db.touch: {answer!r}")
        self.assertRecent(parse_time(rows[0]["last_edited"]), "file_use.last_edited")
        edit = ((rows[0].get("users") or {}).get(self.session.account_id) or {}).get("edit")
        self.assertIsNotNone(edit, f"file_use row {rows[0]!r} has no edit by the caller")
        self.assertRecent(parse_time(edit), "the caller's edit time in file_use")

    def test_touch_the_account_alone(self) -> None:
        """``db.touch()`` records the caller's activity, seen on a new account that nothing else has touched.

        The key owner's ``last_active`` cannot show it: every project call touches it too, and
        CoCalc records an account's activity at most every 120 s.
        """
        account_id = self.create_other_account()
        hub = self.session.client(self.call(lambda: Actors(self.session).sign_in_and_make_key(account_id)))
        read = lambda: self.call(hub.db.query, {"accounts": {"account_id": None, "last_active": None}}).get("accounts")
        self.assertEqual(read(), {"account_id": account_id, "last_active": None}, "a new account, never active")
        before = time.time()
        self.assertIsNone(self.poll_call(hub.db.touch, timeout=EVENTUAL_WAIT), "db.touch answers null")  # a timeout is asked again
        account = read()
        self.assertIsNotNone((account or {}).get("last_active"), f"accounts.last_active after db.touch: {account!r}")
        self.assertRecent(parse_time(account["last_active"]), "accounts.last_active after db.touch", before)

    def test_touch_needs_a_collaborator(self) -> None:
        self.assertCallFails(
            self.hub.db.touch, project_id=str(uuid.uuid4()), contains="Error: user must be collaborator on project"
        )


class TestFileUseTimes(APITestCase):
    def test_times_of_a_file_never_opened(self) -> None:
        project_id = self.create_tracked_project()
        me = self.session.account_id
        path = f"{self.unique_name('unopened')}.txt"
        self.assertEqual(
            self.call(self.hub.db.file_use_times, project_id, path, target_account_id=me),
            {"target_account_id": me, "access_times": []},
        )
        self.assertEqual(
            self.call(self.hub.db.file_use_times, project_id, path), {"target_account_id": me, "access_times": []},
            "the target defaults to the caller",
        )
        self.assertEqual(
            self.call(self.hub.db.file_use_times, project_id, path, access_times=False, edit_times=True),
            {"target_account_id": me, "edit_times": []},
        )

    def test_other_projects_are_refused(self) -> None:
        self.assertCallFails(
            self.hub.db.file_use_times, str(uuid.uuid4()), "x.txt",
            contains="Error: user does not have read access to the given project",
        )


class TestLegacyTimeTravel(APITestCase):
    def test_info_of_a_file_without_archived_history(self) -> None:
        project_id = self.create_tracked_project()
        self.assertEqual(self.call(self.hub.db.get_legacy_time_travel_info, project_id, "never-edited.txt"), {"uuid": ""})
        # With nothing archived CoCalc answers before it checks access.
        self.assertEqual(self.call(self.hub.db.get_legacy_time_travel_info, str(uuid.uuid4()), "x.txt"), {"uuid": ""})

    def test_patches_of_missing_blobs(self) -> None:
        self.assertCallFails(self.hub.db.get_legacy_time_travel_patches, "not-a-uuid", contains="uuid is invalid")
        # CoCalc reads a blob that is not there; the error is its code's (a known bug, reported as such).
        self.assertCallFails(
            self.hub.db.get_legacy_time_travel_patches, str(uuid.uuid4()),
            contains="Cannot read properties of undefined (reading 'toString')",
        )


class TestRemoveBlobTtls(APITestCase):
    def test_random_and_invalid_ids_are_a_no_op(self) -> None:
        """No blob has these ids, so nothing changes; but the valid ids reach the update of ``blobs``.

        CoCalc drops the ids that are not UUIDs (a list that is not one is refused at the
        filter) and updates ``blobs`` for the others: PostgreSQL counts that statement's scan
        of the table (read from the database; skipped, saying so, without one).
        """
        scans = table_scans(self, "blobs") if database_configured(self) else None
        self.assertIsNone(self.call(self.hub.db.remove_blob_ttls, [str(uuid.uuid4()), str(uuid.uuid4()), "not-a-uuid"]))
        self.assertIsNone(self.call(self.hub.db.remove_blob_ttls, []))
        self.assertCallFails(
            lambda: self.hub.call("db.removeBlobTtls", [{"uuids": "not-a-list"}]), contains="TypeError: uuids.filter is not a function"
        )
        with self.subTest(read_back="the update of blobs"):
            if scans is None:
                self.skipTest(NO_DATABASE_REASON.format(what="the update of blobs"))
            self.poll_call(
                lambda: table_scans(self, "blobs"), accept=lambda now: now > scans, timeout=STATS_WAIT,
                what=f"a scan of blobs counted after db.removeBlobTtls of valid ids (before: {scans})",
            )

    def test_missing_list_is_a_type_error(self) -> None:
        self.assertCallFails(
            lambda: self.hub.call("db.removeBlobTtls", [{}]),
            contains="TypeError: Cannot read properties of undefined (reading 'filter')",
        )
