"""Site licenses (site admins only): written through ``db.userQuery``, applied by ``createProject``.

Licenses are no organization feature: CoCalc keeps them in ``site_licenses``,
which admins read and write with user queries, and any signed-in account reads
a license's public part by id (``site_license_public_info``).  Every license is
tracked (the cleaner hard-deletes it); no licensed project is ever started.
"""
import datetime
import uuid
from typing import Any, Dict

from .session import get_session
from .support import APITestCase, parse_time, requires_site_admin

#: The quota the test licenses give.
QUOTA = {"cpu": 1, "ram": 1, "disk": 1, "user": "academic", "member": True, "always_running": False}


def setUpModule() -> None:
    get_session()


def iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@requires_site_admin
class TestSiteLicenses(APITestCase):
    def new_license(self) -> Dict[str, Any]:
        """A tracked license valid from an hour ago until tomorrow; its fields."""
        now = datetime.datetime.now(datetime.timezone.utc)
        fields = {
            "id": str(uuid.uuid4()),
            "title": self.unique_name("license"),
            "description": "made by cocalc-api-tests",
            "activates": iso(now - datetime.timedelta(hours=1)),
            "expires": iso(now + datetime.timedelta(days=1)),
            "run_limit": 1,
            "quota": dict(QUOTA),
        }
        self.call(self.create_tracked_license, **dict(fields))
        return fields

    def public_info(self, license_id: str) -> Dict[str, Any]:
        answer = self.call(self.hub.db.query, {"site_license_public_info": {"id": license_id, "title": None}})
        return answer.get("site_license_public_info") or {}

    def site_license_of(self, project_id: str) -> Any:
        return self.project_row(project_id, "site_license").get("site_license")

    def test_admin_writes_and_reads_a_license(self) -> None:
        fields = self.new_license()
        query = {name: None for name in ("title", "description", "activates", "expires", "run_limit", "quota")}
        row = self.call(self.hub.db.query, {"site_licenses": dict(query, id=fields["id"])}).get("site_licenses") or {}
        self.assertEqual(row.get("id"), fields["id"], f"site_licenses answered {row!r}")
        for name in ("title", "description", "run_limit", "quota"):
            self.assertEqual(row.get(name), fields[name], f"site_licenses.{name}")
        for name in ("activates", "expires"):
            self.assertEqual(parse_time(row[name]), parse_time(fields[name]), f"site_licenses.{name}")
        self.call(self.hub.db.query, {"site_licenses": {"id": fields["id"], "run_limit": 3, "quota": {"cpu": 2}}})
        row = self.call(self.hub.db.query, {"site_licenses": {"id": fields["id"], "run_limit": None, "quota": None}})
        changed = row.get("site_licenses") or {}
        self.assertEqual((changed.get("run_limit"), changed.get("quota")), (3, dict(QUOTA, cpu=2)), "maps are merged")

    def test_public_info(self) -> None:
        fields = self.new_license()
        info = self.public_info(fields["id"])
        expected = {"title": fields["title"], "description": fields["description"], "run_limit": 1, "quota": QUOTA,
                    "running": 0, "applied": 0, "is_manager": False}
        self.assertEqual({k: info.get(k) for k in expected}, expected, f"site_license_public_info answered {info!r}")
        self.assertEqual(parse_time(info["expires"]), parse_time(fields["expires"]))
        missing = str(uuid.uuid4())
        self.assertCallFails(
            self.hub.db.query, {"site_license_public_info": {"id": missing, "title": None}},
            contains=f"Error: no license with id {missing}",
        )

    def test_project_created_with_the_license(self) -> None:
        fields = self.new_license()
        project_id = self.create_tracked_project(license=fields["id"])
        self.assertEqual(self.site_license_of(project_id), {fields["id"]: {}})
        self.assertEqual(self.public_info(fields["id"]).get("applied"), 1, "one project has the license applied")
        both = self.create_tracked_project(license=f"{fields['id']},not-a-uuid")
        self.assertEqual(self.site_license_of(both), {fields["id"]: {}}, "an invalid id next to a valid one is dropped")
        self.assertEqual(self.public_info(fields["id"]).get("applied"), 2)

    def test_invalid_license_ids_are_dropped(self) -> None:
        project_id = self.create_tracked_project(license="not-a-uuid")
        self.assertIn(self.site_license_of(project_id), (None, {}), "createProject kept an invalid license id")
