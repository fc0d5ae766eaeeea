"""The stand-in's faults (``cocalc_standin/faults.py``): the table, each kind's mechanism, a sample the suite catches.

* the table: four faults (at least) for each of the 78 safe calls, 312 in all,
  each kind that does not apply to a call said with why and replaced; ids parse
  back; ``python -m cocalc_standin faults`` lists them; a bad
  ``COCALC_STANDIN_FAULT`` stops the stand-in at start with one line and exit 2;
* each kind changes what a running stand-in does, shown with direct client
  calls: an emptied answer, a wrong field, a skipped effect (in the database and
  in a project's files), an ignored argument; without a fault the hook passes
  every call through untouched;
* the faults explained as invisible (``faults.INVISIBLE``) are faults of the
  table, each with its reason; the benchmark's summary lists them apart from
  the unexplained misses, and names an explained fault it caught;
* a fixed sample (:func:`mutation.sample`: six faults of different kinds and
  areas, chosen with a fixed seed) is caught by the whole suite with ``CI=true``
  (``selftests/mutation.py --sample`` runs the same; without ``--sample`` it
  measures every fault).
"""
import collections
import datetime
import decimal
import io
import subprocess
import sys
import unittest
import uuid

from cocalc_api_tests.client import Hub
from cocalc_api_tests.errors import CoCalcAPIError
from cocalc_standin import faults

import mutation
from suite_runner import PY, ROOT, clean_environ
from test_suite_e2e import UNSAFE, reachable


def _standin(fault_id: str):
    """A running stand-in that makes *fault_id*; SkipTest when no PostgreSQL can be had."""
    from cocalc_standin.launch import SetupError, StandinEnvironment

    env = StandinEnvironment(fault=faults.parse(fault_id))
    try:
        env.__enter__()
    except SetupError as err:
        raise unittest.SkipTest(f"no PostgreSQL for the stand-in: {err}") from None
    return env


class TestTable(unittest.TestCase):
    def setUp(self) -> None:
        self.table = faults.table()

    def test_every_safe_call_has_at_least_four_faults_312_in_all(self) -> None:
        safe = reachable() - UNSAFE
        self.assertEqual(len(safe), 78)
        per_call = collections.Counter((f.endpoint, f.call) for f in self.table.faults)
        self.assertEqual(set(per_call), safe, "the table's calls are the safe calls")
        self.assertEqual({c: n for c, n in per_call.items() if n < 4}, {}, "calls with fewer than four faults")
        self.assertGreaterEqual(len(self.table.faults), 312)
        ids = self.table.ids()
        self.assertEqual(len(ids), len(set(ids)), "fault ids are unique")

    def test_the_unsafe_calls_are_the_suites_seven(self) -> None:
        self.assertEqual(faults.UNSAFE, UNSAFE)

    def test_a_kind_that_does_not_apply_says_why_and_has_a_substitute(self) -> None:
        self.assertTrue(self.table.not_applicable)
        for endpoint, call, kind, why in self.table.not_applicable:
            with self.subTest(call=call, kind=kind):
                self.assertIn(kind, faults.PRIMARY)
                self.assertTrue(why)
                mine = [f for f in self.table.faults if (f.endpoint, f.call) == (endpoint, call)]
                self.assertNotIn(kind, [f.kind for f in mine])
                self.assertIn(f"{kind}: {why}", [f.instead_of for f in mine], "its substitute names it")

    def test_the_primary_kinds_apply_wherever_they_can(self) -> None:
        kinds = collections.defaultdict(set)
        for fault in self.table.faults:
            kinds[(fault.endpoint, fault.call)].add(fault.kind)
        for spec in faults.call_specs():
            key = (spec.endpoint, spec.call)
            with self.subTest(call=spec.label):
                self.assertIn("empty", kinds[key])
                self.assertEqual("arg" in kinds[key], bool(spec.options))
                self.assertEqual("field" in kinds[key], spec.answer != "null")
                pure = key in faults.PURE_READS or key in faults.UNSANDBOXED
                self.assertEqual("effect" in kinds[key], not pure)
        self.assertIn((0, "title"), [f.option for f in self.table.faults if f.id == "projects.createProject:arg"])

    def test_every_explained_fault_is_one_of_the_table_with_its_reason(self) -> None:
        ids = set(self.table.ids())
        self.assertTrue(faults.INVISIBLE)
        for fault_id, why in faults.INVISIBLE.items():
            with self.subTest(fault=fault_id):
                self.assertIn(fault_id, ids, "names a fault of the generated table")
                self.assertGreater(len(why), 80, "a reason says what cannot be seen, and why")

    def test_every_id_parses_back_to_its_fault(self) -> None:
        for fault in self.table.faults:
            self.assertEqual(faults.parse(fault.id), fault)
        self.assertEqual(faults.parse("hub:system.ping:field").endpoint, "hub")
        self.assertEqual(faults.parse("project:system.ping:field").endpoint, "project")

    def test_a_bad_id_is_refused_with_what_to_do(self) -> None:
        cases = {
            "projects.nope:field": "not one of the safe calls",
            "system.terminate:empty": "not one of the safe calls",
            "projects.createProject:wrong": "unknown kind 'wrong'",
            "project:sync.close:field": "does not apply to project:sync.close (it answers null: no field)",
            "projects.createProject": "is no fault id",
        }
        for text, expected in cases.items():
            with self.subTest(text=text):
                with self.assertRaises(faults.FaultError) as caught:
                    faults.parse(text)
                self.assertIn(expected, str(caught.exception))
                self.assertIn(faults.ENV, str(caught.exception))
        self.assertIsNone(faults.from_env({}))
        self.assertIsNone(faults.from_env({faults.ENV: " "}))

    def test_the_command_line_lists_every_fault_and_refuses_a_bad_one_at_start(self) -> None:
        listed = subprocess.run([PY, "-m", "cocalc_standin", "faults"], cwd=ROOT, env=clean_environ(),
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertEqual(listed.stdout.splitlines(), self.table.ids())
        table = subprocess.run([PY, "-m", "cocalc_standin", "faults", "--table"], cwd=ROOT, env=clean_environ(),
                               capture_output=True, text=True, timeout=120)
        self.assertIn("project:system.ping:effect\tit reads the clock", table.stdout)
        for command in ("serve", "run"):
            with self.subTest(command=command):
                bad = subprocess.run([PY, "-m", "cocalc_standin", command], cwd=ROOT, capture_output=True, text=True,
                                     env=clean_environ(**{faults.ENV: "projects.createProject:nope"}), timeout=120)
                self.assertEqual(bad.returncode, 2, bad.stdout + bad.stderr)
                self.assertNotIn("Traceback", bad.stderr)
                self.assertEqual(bad.stderr.strip().count("\n"), 0, bad.stderr)
                self.assertIn("unknown kind 'nope'", bad.stderr)


class TestAnswerChanges(unittest.TestCase):
    """What each kind does to an answer (or a request), on plain values."""

    ANSWER = {"project_id": "0b7c3b8e-9a43-4c43-8d0e-3a1c6d62f5a0", "title": "t", "users": {"a": {"group": "owner"}}}

    def test_empty_is_the_empty_value_of_the_type_then_another_empty_form(self) -> None:
        for answer, empty, empty2 in ((self.ANSWER, {}, None), ([1], [], None), ("x", "", None), (5, 0, None),
                                      (None, {}, []), ({}, None, []), ([], None, {}), (True, False, None)):
            with self.subTest(answer=answer):
                self.assertEqual(faults.change_answer("empty", answer), (empty, True))
                self.assertEqual(faults.change_answer("empty2", answer), (empty2, True))

    def test_field_changes_the_first_field_field2_the_second_deterministically(self) -> None:
        changed, did = faults.change_answer("field", self.ANSWER)
        self.assertTrue(did)
        self.assertNotEqual(changed["project_id"], self.ANSWER["project_id"])
        self.assertEqual(changed, faults.change_answer("field", self.ANSWER)[0], "deterministic")
        self.assertEqual({k: v for k, v in changed.items() if k != "project_id"},
                         {k: v for k, v in self.ANSWER.items() if k != "project_id"})
        self.assertEqual(faults.change_answer("field2", self.ANSWER)[0]["title"], "t~")
        self.assertEqual(faults.change_answer("field", [{"name": "a", "x": 1}])[0], [{"name": "a~", "x": 1}])
        self.assertEqual(faults.change_answer("field", 1796295797147)[0], 1796295797147 - 3_600_000)
        self.assertEqual(faults.change_answer("field", "2026-12-03T11:03:16.586Z")[0], "2026-12-03T10:03:16.586Z")
        self.assertEqual(faults.change_answer("field", {"now": None, "ok": True})[0], {"now": None, "ok": False})
        self.assertEqual(faults.change_answer("field", []), ([], False), "nothing to change")

    def test_drop_and_type(self) -> None:
        self.assertEqual(faults.change_answer("drop", {"now": 1})[0], {})
        self.assertEqual(faults.change_answer("drop", [1, 2])[0], [2])
        self.assertEqual(faults.change_answer("type", 12)[0], "12")
        self.assertEqual(faults.change_answer("type", None)[0], False)
        self.assertEqual(faults.change_answer("type", "a")[0], ["a"])

    def test_answers_holding_database_values_change_too(self) -> None:
        sent = datetime.datetime(2026, 12, 3, 11, 0)
        rows = [{"id": 7, "sent": sent, "to_ids": [uuid.UUID(self.ANSWER["project_id"])]}]
        self.assertEqual(faults.change_answer("empty", rows), ([], True))
        self.assertEqual(faults.change_answer("field2", rows)[0][0]["sent"], sent - datetime.timedelta(hours=1))
        self.assertEqual(faults.change_answer("empty", [{"balance": decimal.Decimal(0)}]), ([], True))

    def test_errors_are_never_changed(self) -> None:
        for kind in faults.KINDS:
            self.assertEqual(faults.change_answer(kind, {"error": "Error: no"}), ({"error": "Error: no"}, False))

    def test_an_ignored_argument_is_left_out(self) -> None:
        self.assertEqual(faults.without([{"title": "t", "start": True}], (0, "title")), ([{"start": True}], True))
        self.assertEqual(faults.without([{"opts": {"project_id": "p", "account_id": "a"}}], (0, "opts", "project_id")),
                         ([{"opts": {"account_id": "a"}}], True))
        self.assertEqual(faults.without(["main", True], (0,)), ([None, True], True))
        self.assertEqual(faults.without(["main"], (0,)), ([], True))
        self.assertEqual(faults.without([{"start": True}], (0, "title")), ([{"start": True}], False), "not sent")
        self.assertEqual(faults.without([], (0,)), ([], False))


class TestSummary(unittest.TestCase):
    def test_explained_misses_are_listed_apart_with_their_reasons(self) -> None:
        table = faults.table()
        explained, caught_anyway = sorted(faults.INVISIBLE)[:2]
        outcomes = [
            mutation.Outcome(faults.parse(explained, table), "missed", "all 5 tests passed"),
            mutation.Outcome(faults.parse("projects.createProject:field", table), "missed", "all 9 tests passed"),
            mutation.Outcome(faults.parse(caught_anyway, table), "caught", "1 of 5 tests failed"),
        ]
        lines = mutation.summary_lines(outcomes)
        self.assertEqual(lines[:2], ["caught 1 of 3 faults", "verdicts: 1 caught, 2 missed"])
        heads = [line for line in lines if not line.startswith("  ")]
        self.assertEqual([h.split(" (")[0] for h in heads[2:]], [
            "not caught, explained", "caught, yet explained as invisible", "not caught, unexplained"])
        at = lines.index(f"  {explained} (missed)")
        self.assertEqual(lines[at + 1], f"      {faults.INVISIBLE[explained]}", "the reason follows its faults")
        self.assertIn(f"  {caught_anyway}", lines)
        self.assertEqual(lines[-1].split("\t")[0], "  projects.createProject:field")
        self.assertEqual(mutation.missed_lines(outcomes, explained=False), [lines[-1][2:]])
        self.assertEqual(len(mutation.missed_lines(outcomes)), 2, "the missed file keeps every fault not caught")

    def test_faults_of_kernel_bound_calls_run_with_ci_unset(self) -> None:
        table = faults.table()
        self.assertTrue(mutation.needs_kernels(faults.parse("project:system.jupyterExecute:field", table)))
        self.assertTrue(mutation.needs_kernels(faults.parse("project:editor.printSageWS:field", table)))
        self.assertFalse(mutation.needs_kernels(faults.parse("projects.createProject:field", table)))
        self.assertFalse(mutation.needs_kernels(faults.parse("messages.get:field", table)), "mes-sage-s is no Sage call")


class _App:
    def __init__(self) -> None:
        self.store = object()


class TestTheHook(unittest.TestCase):
    def test_without_a_fault_every_call_passes_through_untouched(self) -> None:
        app, args = _App(), [{"title": "t"}]
        self.assertIs(faults.call(app, "hub", "projects.createProject", args, lambda a, b: (a, b))[0], app)
        self.assertIs(faults.call(app, "hub", "projects.createProject", args, lambda a, b: b), args)
        faults.install(app, None)
        self.assertIsNone(app.fault)
        self.assertIs(faults.call(app, "hub", "projects.createProject", args, lambda a, b: b), args)
        self.assertIsNone(faults.summary(app))

    def test_a_fault_changes_only_its_own_call_on_its_own_endpoint(self) -> None:
        app = _App()
        faults.install(app, faults.parse("system.ping:field"))
        self.assertEqual(faults.call(app, "project", "system.ping", [], lambda a, b: {"now": 5}), {"now": 5})
        self.assertEqual(faults.call(app, "hub", "system.test", [], lambda a, b: {"now": 5}), {"now": 5})
        self.assertEqual(faults.call(app, "hub", "system.ping", [], lambda a, b: {"now": 5}), {"now": 6})
        self.assertEqual(faults.summary(app), "fault system.ping:field: changed 1 of 1 calls")


class TestEachKindOnAServer(unittest.TestCase):
    """One stand-in per kind; direct client calls show what the fault does (and what it leaves alone)."""

    def serve(self, fault_id: str) -> Hub:
        env = _standin(fault_id)
        self.addCleanup(env.close)
        self.env = env
        hub = Hub(env.admin_key, env.server.url)
        self.addCleanup(hub.close)
        return hub

    def test_empty_the_answer_is_emptied(self) -> None:
        hub = self.serve("org.getAll:empty")
        name = f"org-{uuid.uuid4().hex[:8]}"
        hub.org.create(name)
        self.assertEqual(hub.org.get(name)["name"], name, "the organization exists")
        self.assertEqual(hub.org.get_all(), [])
        self.assertEqual(faults.summary(self.env.server.app), "fault org.getAll:empty: changed 1 of 1 calls")

    def test_field_one_field_of_the_answer_is_wrong(self) -> None:
        hub = self.serve("projects.createProject:field")
        title = f"field-{uuid.uuid4().hex[:8]}"
        answered = hub.projects.create_project(title=title)
        rows = hub.projects.get(fields=["project_id", "title"], all=True)
        created = [row["project_id"] for row in rows if row.get("title") == title]
        self.assertEqual(len(created), 1, rows)
        self.assertNotEqual(answered, created[0], "the answer is not the new project's id")
        self.assertEqual(len(answered), 36)
        self.assertIn("now", hub.system.ping(), "other calls answer as before")

    def test_effect_in_the_database_the_call_succeeds_but_nothing_is_stored(self) -> None:
        hub = self.serve("org.create:effect")
        name = f"org-{uuid.uuid4().hex[:8]}"
        self.assertEqual(len(hub.org.create(name)), 36, "answers an id as on success")
        with self.assertRaises(CoCalcAPIError):
            hub.org.get(name)
        self.assertNotIn(name, [org["name"] for org in hub.org.get_all()])
        self.assertIn("now", hub.system.ping(), "the store still answers everyone else")

    def test_effect_in_a_project_the_write_succeeds_but_no_file_appears(self) -> None:
        hub = self.serve("project:system.writeTextFileToProject:effect")
        project_id = hub.projects.create_project(title="effect")
        project = hub.project(project_id)
        self.addCleanup(project.close)
        project.system.exec("echo kept > kept.txt", bash=True)
        self.assertIsNone(project.system.write_text_file_to_project("folder/skipped.txt", "lost"))
        with self.assertRaises(CoCalcAPIError) as caught:
            project.system.read_text_file_from_project("folder/skipped.txt")
        self.assertIn("ENOENT", str(caught.exception))
        self.assertEqual([e["name"] for e in project.system.listing("")], ["kept.txt"])
        self.assertEqual(project.system.read_text_file_from_project("kept.txt"), "kept\n")

    def test_arg_one_argument_is_ignored(self) -> None:
        hub = self.serve("projects.createProject:arg")
        project_id = hub.projects.create_project(title="my title", description="my description")
        (row,) = hub.projects.get(fields=["project_id", "title", "description"], all=True, project_id=project_id)
        self.assertEqual((row["title"], row["description"]), ("No Title", "my description"))


class TestSampleIsCaught(unittest.TestCase):
    def test_the_fixed_sample_is_caught_by_the_whole_suite_with_ci_true(self) -> None:
        chosen = mutation.sample()
        self.assertEqual(len(chosen), 6)
        self.assertEqual(len({(f.endpoint, f.call.split(".")[0]) for f in chosen}), 6, "six areas")
        self.assertGreaterEqual(len({f.kind for f in chosen}), 4, "of four kinds at least")
        self.assertEqual(chosen, mutation.sample(), "fixed")
        printed = io.StringIO()
        outcomes = mutation.run_all(chosen, jobs=2, module_calls=None, timeout=240, out=printed)
        errors = [o for o in outcomes if o.verdict == "error"]
        if errors and all("PostgreSQL" in o.detail for o in errors):
            self.skipTest(f"no PostgreSQL for the stand-in: {errors[0].detail}")
        print("\n" + printed.getvalue().rstrip(), file=sys.stderr)
        self.assertEqual(mutation.missed_lines(outcomes), [], printed.getvalue())


if __name__ == "__main__":
    unittest.main()
