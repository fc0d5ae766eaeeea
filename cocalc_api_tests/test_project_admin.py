"""Who is on a project and what it may use: ``changeUserType``, ``inviteCollaborator``, ``setQuotas``.

Each test works on its own tracked project with tracked accounts and reads the
result back through ``db.userQuery``.  ``inviteCollaborator`` is never given
``email`` (CoCalc would mail an invitation).
"""
import uuid
from typing import Dict

from .session import get_session
from .support import EVENTUAL_WAIT, APITestCase, requires_site_admin


def setUpModule() -> None:
    get_session()


@requires_site_admin
class MembersCase(APITestCase):
    """Projects shared with other accounts (made in organizations, which only site admins create)."""

    def groups(self, project_id: str) -> Dict[str, str]:
        """``{account_id: group}`` of the project's users."""
        users = self.project_row(project_id, "users").get("users") or {}
        return {account_id: entry.get("group") for account_id, entry in users.items()}

    def project_with_collaborator(self) -> tuple:
        """A tracked project of the key's account with another tracked account as collaborator."""
        project_id = self.create_tracked_project()
        other = self.create_other_account()
        self.call(self.hub.projects.add_collaborator, project_id, other)
        return project_id, other


class TestChangeUserType(MembersCase):
    def test_promote_then_demote(self) -> None:
        project_id, other = self.project_with_collaborator()
        me = self.session.account_id
        self.assertIsNone(self.call(self.hub.projects.change_user_type, project_id, other, "owner"))
        self.assertEqual(self.groups(project_id), {me: "owner", other: "owner"})
        self.assertCallFails(
            self.hub.projects.remove_collaborator, project_id, other,
            contains="OwnershipError: Cannot remove an owner. Demote to collaborator first.",
        )
        self.assertIsNone(self.call(self.hub.projects.change_user_type, project_id, other, "collaborator"))
        self.assertEqual(self.groups(project_id), {me: "owner", other: "collaborator"})

    def test_refusals_leave_the_users_alone(self) -> None:
        project_id, other = self.project_with_collaborator()
        me = self.session.account_id
        stranger = self.create_other_account()
        refusals = (
            ((project_id, me, "collaborator"),
             "OwnershipError: Cannot change the last owner to collaborator. At least one owner is required."),
            ((project_id, stranger, "owner"), "OwnershipError: Target user is not a member of this project"),
            ((project_id, other, "viewer"), "OwnershipError: New group must be either 'owner' or 'collaborator'"),
            ((str(uuid.uuid4()), other, "owner"), "OwnershipError: Not a project member"),
        )
        for args, text in refusals:
            with self.subTest(args=args[1:]):
                self.assertCallFails(self.hub.projects.change_user_type, *args, contains=text)
        self.assertEqual(self.groups(project_id), {me: "owner", other: "collaborator"})


class TestInviteCollaborator(MembersCase):
    def test_invite_without_email_adds_a_collaborator(self) -> None:
        project_id = self.create_tracked_project()
        other = self.create_other_account()
        self.assertIsNone(self.call(self.hub.projects.invite_collaborator, project_id, other))
        self.assertEqual(self.groups(project_id), {self.session.account_id: "owner", other: "collaborator"})
        self.assertIsNone(self.call(self.hub.projects.invite_collaborator, project_id, other), "a second invitation")
        self.assertEqual(self.groups(project_id)[other], "collaborator")

    def test_refusals(self) -> None:
        project_id = self.create_tracked_project()
        other = self.create_other_account()
        self.assertCallFails(
            self.hub.projects.invite_collaborator, str(uuid.uuid4()), other, contains="Error: user must be a collaborator"
        )
        self.assertCallFails(
            self.hub.projects.invite_collaborator, project_id, "not-a-uuid", contains="invalid account_id -- not-a-uuid"
        )
        self.assertEqual(self.groups(project_id), {self.session.account_id: "owner"})


@requires_site_admin
class TestSetQuotas(APITestCase):
    def settings(self, project_id: str) -> dict:
        return self.project_row(project_id, "settings").get("settings") or {}

    def test_quotas_are_merged_into_settings(self) -> None:
        project_id = self.create_tracked_project()
        self.assertIsNone(self.call(self.hub.projects.set_quotas, project_id, memory=1000, cores=1, disk_quota=2000))
        settings = self.settings(project_id)
        expected = {"memory": 1000, "cores": 1, "disk_quota": 2000, "project_id": project_id,
                    "account_id": self.session.account_id}
        self.assertEqual({k: settings.get(k) for k in expected}, expected, f"settings after setQuotas: {settings!r}")
        self.assertIsNone(self.call(self.hub.projects.set_quotas, project_id, memory=1500))
        settings = self.settings(project_id)
        self.assertEqual((settings.get("memory"), settings.get("cores")), (1500, 1), f"after a second setQuotas: {settings!r}")

    def test_running_project_is_restarted(self) -> None:
        project_id = self.create_tracked_project(start=True)
        # Running, not only starting: CoCalc compares quotas only once the start has recorded its run_quota
        # (a setQuotas during the start changes the settings without a restart).
        self.poll_call(self.hub.projects.state, project_id, accept=lambda s: s.get("state") == "running",
                       what=f"project {project_id} running")
        status = self.poll_call(
            self.hub.projects.status, project_id, accept=lambda s: isinstance(s.get("project.pid"), int),
            what=f"a process of started project {project_id}",
        )
        self.assertIsNone(self.call(self.hub.projects.set_quotas, project_id, memory=1200))
        self.poll_call(
            self.hub.projects.status,
            project_id,
            accept=lambda s: isinstance(s.get("project.pid"), int) and s["project.pid"] != status["project.pid"],
            timeout=EVENTUAL_WAIT,
            what=f"project {project_id} restarted (a new pid) after setQuotas",
        )

    def test_invalid_project_id(self) -> None:
        self.assertCallFails(
            self.hub.projects.set_quotas, "not-a-uuid", memory=1000, contains='invalid input syntax for type uuid: "not-a-uuid"'
        )
