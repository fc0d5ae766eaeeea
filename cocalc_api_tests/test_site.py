"""The site's public settings (``system.getCustomize``) and the three logging calls.

The logging calls write rows no API reads back (``user_tracking``,
``client_error_log``, ``webapp_errors``); each row carries a tracked tag in the
column the cleaner matches (``event``, or ``message`` for web-app errors).  The
tests check the answers, CoCalc's refusals of bad input, and the rows themselves,
read back from the database (:func:`~cocalc_api_tests.support.read_rows`; that part
skips, saying so, when no database is configured).
"""
import datetime
import urllib.parse
from typing import Any, Dict

from .session import get_session
from .support import CLOCK_SKEW, APITestCase, read_rows

#: Keys every CoCalc answers in its customize object.
CUSTOMIZE_KEYS = {
    "siteName", "siteDescription", "organizationName", "organizationEmail", "helpEmail", "contactEmail",
    "isCommercial", "kucalc", "dns", "siteURL", "strategies", "version", "jupyterApiEnabled", "landingPages",
}
#: The integer fields of ``version``.
VERSION_KEYS = {"min_project", "min_compute_server", "min_browser", "recommended_browser", "compute_server_min_project"}
#: CoCalc's ``kucalc`` value of cocalc.com, the only mode that shows landing pages.
KUCALC_COCALC_COM = "yes"
#: Days CoCalc keeps a log row (its ``expire``), and how far off the stored value may be (time zones).
LOG_DAYS, LOG_DAYS_SLACK = 30, 1


def setUpModule() -> None:
    get_session()


class TestCustomize(APITestCase):
    def test_all_settings(self) -> None:
        settings = self.call(self.hub.system.get_customize)
        self.assertIsInstance(settings, dict)
        self.assertLessEqual(CUSTOMIZE_KEYS, set(settings), f"getCustomize lacks {CUSTOMIZE_KEYS - set(settings)}")
        self.assertIsInstance(settings["siteName"], str)
        self.assertTrue(settings["siteName"], "siteName is empty (CoCalc falls back to a default name)")
        self.assertEqual(set(settings["version"]), VERSION_KEYS, f"version is {settings['version']!r}")
        for key, value in settings["version"].items():
            self.assertIs(type(value), int, f"version.{key} is {value!r}")
        self.assertIsInstance(settings["strategies"], list)
        self.assertEqual(settings["contactEmail"], settings["organizationEmail"] or settings["helpEmail"])
        if settings["kucalc"] != KUCALC_COCALC_COM:
            self.assertIs(settings["landingPages"], False, "landing pages are shown only in cocalc.com mode")

    def test_site_url_follows_dns(self) -> None:
        settings = self.call(self.hub.system.get_customize, ["dns", "siteURL"])
        dns = (settings.get("dns") or "localhost").lower()
        base_path = urllib.parse.urlsplit(self.session.config.host).path.rstrip("/")
        expected = (dns if dns.startswith("http") else f"https://{dns}") + base_path
        self.assertEqual(settings.get("siteURL"), expected, f"getCustomize answered {settings!r}")
        self.assertFalse(settings["siteURL"].endswith("/"))

    def test_only_the_named_fields(self) -> None:
        settings = self.call(self.hub.system.get_customize)
        self.assertEqual(self.call(self.hub.system.get_customize, ["siteName"]), {"siteName": settings["siteName"]})
        picked = self.call(self.hub.system.get_customize, ["siteName", "no_such_setting", "version"])
        self.assertEqual(picked, {"siteName": settings["siteName"], "version": settings["version"]})
        self.assertEqual(self.call(self.hub.system.get_customize, []), {})


class TestLogging(APITestCase):
    def logged(self, table: str, column: str, tags: Dict[str, Dict[str, Any]]) -> None:
        """For each tag of *tags*, *table* holds exactly the rows its value says (``{}``: none, else one with those fields).

        Each row is the caller's, of now, and kept :data:`LOG_DAYS` days.  Read from the database, as
        no API call reads these rows; skipped (as a subtest) when no database is configured.
        """
        with self.subTest(read_back=table):
            rows = read_rows(
                self, f"the {table} rows",
                f"SELECT *, EXTRACT(EPOCH FROM LOCALTIMESTAMP - time) AS age_s, "
                f"EXTRACT(EPOCH FROM expire - time) / 86400 AS kept_days FROM {table} "
                f"WHERE {column} = ANY(CAST(:tags AS text[]))",
                tags=list(tags),
            )
            for tag, expected in tags.items():
                found = [row for row in rows if row[column] == tag]
                if not expected:
                    self.assertEqual(found, [], f"{table} has rows for {tag!r}, which CoCalc refused")
                    continue
                self.assertEqual(len(found), 1, f"{table} rows for {tag!r}: {found!r}")
                row = found[0]
                self.assertEqual({k: row.get(k) for k in expected}, expected, f"the {table} row of {tag!r}: {row!r}")
                self.assertEqual(row["account_id"], self.session.account_id, f"the {table} row of {tag!r}: {row!r}")
                self.assertLess(abs(float(row["age_s"])), CLOCK_SKEW, f"the {table} row of {tag!r} is not of now: {row!r}")
                self.assertLess(abs(float(row["kept_days"]) - LOG_DAYS), LOG_DAYS_SLACK, f"the {table} row's expire: {row!r}")

    def test_user_tracking(self) -> None:
        tag = self.tracked_event("track")
        value = {"where": "test_site", "n": 1, "text": "ü ✓", "nested": {"list": [1, None, True]}}
        self.assertIsNone(self.call(self.hub.system.user_tracking, tag, value))
        self.assertCallFails(self.hub.system.user_tracking, "", {}, contains="Error: evt must be specified")
        self.assertCallFails(self.hub.system.user_tracking, tag, None, contains="Error: value must be specified")
        too_long = (tag + "x" * 81)[:81]
        self.session.custody.track("event", too_long)  # so that a wrong server's row would be cleaned too
        self.assertCallFails(self.hub.system.user_tracking, too_long, {}, contains="Error: event must have length at most 80")
        self.logged("user_tracking", "event", {tag: {"value": value}, too_long: {}})

    def test_log_client_error(self) -> None:
        tag, error = self.tracked_event("clienterr"), "a test error ✓ ü 中"
        self.assertIsNone(self.call(self.hub.system.log_client_error, tag, error))
        self.logged("client_error_log", "event", {tag: {"error": error}})

    def test_webapp_error(self) -> None:
        tag = self.tracked_event("webapperr")
        fields = {"name": tag, "message": tag, "stacktrace": "at f (x.js:1:2)", "lineNumber": 1, "columnNumber": 2,
                  "mobile": False, "start_time": "2026-01-01T00:00:00Z"}
        self.assertIsNone(self.call(self.hub.system.webapp_error, **fields))
        other = self.tracked_event("webapperr")
        self.assertIsNone(self.call(self.hub.system.webapp_error, message=other, no_such_field=1), "unknown fields are ignored")
        bad = self.tracked_event("webapperr")
        self.assertCallFails(
            self.hub.system.webapp_error, message=bad, lineNumber="abc", contains='invalid input syntax for type integer: "abc"'
        )
        stored = dict(fields, start_time=datetime.datetime(2026, 1, 1))  # a timestamp without time zone
        self.logged("webapp_errors", "message", {tag: stored, other: {"name": None, "lineNumber": None}, bad: {}})
