"""The write-ahead ledger: what it writes, what it reads back after a crash, whose it is.

No server is needed: the ledger is a file, read back by :class:`LedgerContents`.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import Any, Dict, List

from cocalc_api_tests.config import Config
from cocalc_api_tests.errors import ConfigError
from cocalc_api_tests.ledger import Ledger, LedgerContents, leftover_ledgers, owner_alive, process_start
from cocalc_api_tests.tracking import Tracker

PROJECT = "6f1c0d2e-0b8a-4d55-9a5e-1b2c3d4e5f60"
ACCOUNT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def config(folder: str, **environ: str) -> Config:
    return Config.from_env(dict({"COCALC_API_KEY": "sk-ledger", "PGHOST": "/var/run/postgresql",
                                 "COCALC_TESTS_LEDGER_DIR": folder}, **environ))


class LedgerCase(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="ledger-selftest-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.config = config(self.folder)

    def written(self) -> Ledger:
        """A ledger with one resolved and one unresolved intent, a protect and a scratch line."""
        ledger = Ledger.for_run(self.config, "run1")
        tracker = Tracker(on_add=ledger.record, on_intent=ledger.record_intent)
        first = tracker.intend("project", title="done-1")
        tracker.add("project", PROJECT, intent=first, title="done-1")
        tracker.intend("account", email="lost@test.local")
        ledger.protect(account_ids=[ACCOUNT], project_ids=[None])
        ledger.scratch(PROJECT, "cocalc-api-tests-run1")
        return ledger

    def lines(self, path: str) -> List[Dict[str, Any]]:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]


class WriteAndReadTest(LedgerCase):
    def test_intent_is_on_disk_before_its_call_and_the_id_after(self) -> None:
        ledger = self.written()
        kinds = [(r["type"], r.get("kind")) for r in self.lines(ledger.path)]
        self.assertEqual(kinds, [("run", None), ("intent", "project"), ("resource", "project"), ("intent", "account"),
                                 ("protect", None), ("scratch", None)])
        run = self.lines(ledger.path)[0]
        self.assertEqual((run["pid"], run["pid_start"]), (os.getpid(), process_start(os.getpid())))
        self.assertNotIn("sk-ledger", open(ledger.path, encoding="utf-8").read())

    def test_read_back_resources_open_intents_protection_and_scratch(self) -> None:
        contents = LedgerContents(self.written().path)
        self.assertEqual(contents.tracker.ids("project"), [PROJECT])
        self.assertEqual([(i.kind, i.key) for i in contents.tracker.unresolved()], [("account", {"email": "lost@test.local"})])
        self.assertEqual(contents.protected_accounts, [ACCOUNT])
        self.assertEqual(contents.scratch, [(PROJECT, "cocalc-api-tests-run1")])

    def test_a_last_line_cut_short_by_a_crash_is_ignored(self) -> None:
        ledger = self.written()
        with open(ledger.path, "a", encoding="utf-8") as fh:
            fh.write('{"type": "resource", "kind": "acc')
        self.assertEqual(LedgerContents(ledger.path).tracker.ids("project"), [PROJECT])

    def test_a_broken_line_in_the_middle_is_an_error_naming_it(self) -> None:
        ledger = self.written()
        with open(ledger.path, encoding="utf-8") as fh:
            lines = fh.readlines()
        lines.insert(2, "not json\n")
        with open(ledger.path, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
        with self.assertRaisesRegex(ValueError, r":3 is not a JSON line"):
            LedgerContents(ledger.path)

    def test_records_that_are_not_ledger_records(self) -> None:
        for record, why in (
            ({"type": "resource", "kind": "spaceship", "id": "x"}, "unknown resource kind"),
            ({"type": "intent", "kind": "project", "key": {}, "serial": 1}, "non-empty"),
            ({"type": "protect", "account_ids": "abc"}, "must be lists"),
            ({"type": "teleport"}, "unknown record type"),
        ):
            with self.subTest(record=record):
                ledger = Ledger.for_run(self.config, "bad")
                with open(ledger.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
                with self.assertRaisesRegex(ValueError, why):
                    LedgerContents(ledger.path)
                os.unlink(ledger.path)

    def test_a_file_without_a_run_line_is_not_a_ledger(self) -> None:
        path = os.path.join(self.folder, "run-x.jsonl")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"type": "protect", "account_ids": [], "project_ids": []}) + "\n")
        with self.assertRaisesRegex(ValueError, "no run line"):
            LedgerContents(path)

    def test_an_unwritable_folder_is_a_config_error(self) -> None:
        with tempfile.NamedTemporaryFile() as afile:
            with self.assertRaisesRegex(ConfigError, "cannot be created|not a writable folder"):
                Ledger(os.path.join(afile.name, "sub", "run-x.jsonl"), self.config, "x")


class WhoseLedgerTest(LedgerCase):
    def test_database_guard_compares_host_port_and_name_not_the_user(self) -> None:
        contents = LedgerContents(self.written().path)
        self.assertIsNone(contents.mismatch(config(self.folder, PGUSER="another_user")))
        self.assertIn("database", contents.mismatch(config(self.folder, PGDATABASE="other")) or "")
        self.assertIn("database", contents.mismatch(config(self.folder, PGPORT="5433")) or "")
        self.assertIn("server", contents.mismatch(config(self.folder, COCALC_HOST="http://other:5000")) or "")

    def test_owner_alive_while_this_process_runs(self) -> None:
        ledger = self.written()
        self.assertTrue(owner_alive(ledger.path))
        self.assertEqual(leftover_ledgers(self.folder), [])

    def test_a_dead_writer_leaves_a_leftover(self) -> None:
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
        path = self.rewrite_run(self.written().path, pid=int(child.stdout))
        self.assertFalse(owner_alive(path))
        self.assertEqual(leftover_ledgers(self.folder), [path])

    def test_a_reused_pid_is_not_the_writer(self) -> None:
        path = self.rewrite_run(self.written().path, pid_start="1")  # our pid, but another process's start time
        self.assertFalse(owner_alive(path), "a live process with another start time was taken for the writer")
        self.assertEqual(leftover_ledgers(self.folder), [path])

    def rewrite_run(self, path: str, **changes: Any) -> str:
        records = self.lines(path)
        records[0].update(changes)
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in records)
        return path


if __name__ == "__main__":
    unittest.main()
