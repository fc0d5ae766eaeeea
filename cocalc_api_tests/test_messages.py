"""Internal messages beyond sending: the recipient's views, flags, threads and e-mail recipients.

``messages.get`` shows only the caller's own side, and the suite holds one key,
so the recipient's views (``received``, ``new``, ``starred``) are tested with
messages the key's account sends to itself.  Such a message raises that
account's ``unread_message_count`` (unread threads among the recent received
messages, which other runs may change too, so the count is compared with the
messages, not with a number seen earlier); each test marks it read again before
the cleaner deletes the tracked message.
"""
import uuid
from typing import Any, Dict, List, Optional

from .session import get_session
from .support import APITestCase, requires_site_admin

#: The recipient's own bit of a flag when it is the only recipient: position 1 (0 is the sender's).
OWN_BIT_SET = "01"


def setUpModule() -> None:
    get_session()


class MessagesCase(APITestCase):
    def mine(self, kind: str, message_id: int) -> Optional[Dict[str, Any]]:
        """The message among the caller's messages of *kind*, or None."""
        rows = self.call(self.hub.messages.get, type=kind, limit=100)
        self.assertIsInstance(rows, list, f"messages.get(type={kind!r}) answered {rows!r}")
        return next((row for row in rows if row.get("id") == message_id), None)

    def unread_count(self) -> int:
        row = self.call(self.hub.db.query, {"accounts": {"unread_message_count": None}})["accounts"]
        return row.get("unread_message_count") or 0

    def unread_threads(self) -> int:
        """CoCalc's definition of the unread count, from the caller's received messages: unread threads."""
        rows = self.call(self.hub.messages.get, type="received", limit=500)
        return len({row.get("thread_id") or row["id"] for row in rows
                    if not (row.get("read") or row.get("saved") or row.get("deleted"))})

    def assertUnreadCountKept(self, what: str) -> None:
        """``accounts.unread_message_count`` agrees with the received messages (polled: other runs may send too)."""
        self.poll_call(lambda: (self.unread_count(), self.unread_threads()), accept=lambda pair: pair[0] == pair[1],
                       timeout=30, what=f"unread_message_count equal to the unread threads {what}")

    def set_own_flag(self, message_id: int, flag: str, bits: str = OWN_BIT_SET) -> Any:
        return self.call(self.hub.db.query, {"messages": {"id": message_id, flag: bits}})

    def message_to_self(self, subject: str, body: str) -> int:
        me = self.session.account_id
        message_id = self.call(self.send_tracked_message, subject, body, [me])
        self.addCleanup(self.hub.db.query, {"messages": {"id": message_id, "read": OWN_BIT_SET}})
        return message_id


class TestRecipientViews(MessagesCase):
    def test_received_new_starred_and_read(self) -> None:
        me = self.session.account_id
        subject, body = self.unique_name("to-self"), "a **test** message ✓"
        message_id = self.message_to_self(subject, body)
        received = self.mine("received", message_id)
        self.assertIsNotNone(received, f"message {message_id} is not among the received messages")
        self.assertEqual(
            {k: received.get(k) for k in ("subject", "body", "from_id", "to_ids", "thread_id", "read", "saved", "deleted")},
            {"subject": subject, "body": body, "from_id": me, "to_ids": [me], "thread_id": None,
             "read": False, "saved": False, "deleted": False},
        )
        fresh = self.mine("new", message_id)
        self.assertIsNotNone(fresh, f"unread message {message_id} is not among the new messages")
        self.assertEqual(set(fresh) & {"read", "saved", "deleted"}, set(), f"rows of type new carry no flags: {fresh!r}")
        self.assertUnreadCountKept("once the message arrived")
        self.assertGreaterEqual(self.unread_count(), 1, "an unread message, yet unread_message_count is 0")
        self.assertIsNone(self.mine("starred", message_id), "a message nobody starred is starred")
        self.assertEqual(self.set_own_flag(message_id, "starred"), {})
        self.assertIsNotNone(self.mine("starred", message_id), f"starred message {message_id} is not among the starred")
        self.assertEqual(self.set_own_flag(message_id, "read"), {})
        self.assertIsNone(self.mine("new", message_id), "a read message is still new")
        self.assertIs(self.mine("received", message_id).get("read"), True)
        self.assertUnreadCountKept("once the message was read")

    def test_flags_are_checked(self) -> None:
        message_id = self.message_to_self(self.unique_name("flags"), "flags")
        self.assertCallFails(
            self.hub.db.query, {"messages": {"id": message_id, "subject": "changed"}},
            contains="FATAL: changing messages.subject not allowed",
        )
        self.assertCallFails(
            self.hub.db.query, {"messages": {"id": 2147483646, "read": OWN_BIT_SET}},
            contains="use the sent_messages table to create a new message",
        )


@requires_site_admin
class TestThreadsAndRecipients(MessagesCase):
    """Messages to other accounts (made in organizations, which only site admins create)."""

    def sent(self, message_id: int) -> Dict[str, Any]:
        row = self.mine("sent", message_id)
        self.assertIsNotNone(row, f"message {message_id} is not among the sent messages")
        return row

    def test_replies_join_the_root_thread(self) -> None:
        other = self.create_other_account()
        subject = self.unique_name("thread")
        root = self.call(self.send_tracked_message, subject, "first", [other])
        reply = self.call(self.send_tracked_message, f"Re: {subject}", "second", [other], reply_id=root)
        again = self.call(self.send_tracked_message, f"Re: {subject}", "third", [other], reply_id=reply)
        threads = [self.sent(m).get("thread_id") for m in (root, reply, again)]
        self.assertEqual(threads, [None, root, root], "a reply's thread is the root message")
        orphan = self.call(self.send_tracked_message, self.unique_name("orphan"), "x", [other], reply_id=2147483646)
        self.assertIsNone(self.sent(orphan).get("thread_id"), "a reply to a missing message starts no thread")

    def test_email_recipients_become_accounts(self) -> None:
        email = self.unique_email("mailto")
        other = self.create_other_account(email=email)
        nobody = self.unique_email("nobody")
        message_id = self.call(self.send_tracked_message, self.unique_name("by-email"), "hello", [email, nobody])
        self.assertEqual(self.sent(message_id).get("to_ids"), [other], "known addresses become accounts, others drop")
        subject = self.unique_name("to-nobody")
        answer = self.call(self.hub.messages.send, subject, "hello", [nobody])
        sent: List[Dict[str, Any]] = self.call(self.hub.messages.get, type="sent", limit=100)
        stored = [m["id"] for m in sent if m.get("subject") == subject]
        for stray in stored:
            self.track_message(stray)
        self.assertEqual((answer, stored), (None, []), "a message to nobody is not sent")

    def test_unknown_recipient_is_refused(self) -> None:
        missing = str(uuid.uuid4())
        self.assertCallFails(
            self.send_tracked_message, self.unique_name("refused"), "x", [missing],
            contains=f"Error: invalid account_id -- {missing}",
        )
