"""The stand-in's Jupyter side: real kernelspecs, real kernels, CoCalc's output shapes, and the
hub's execution cache and log (through the stand-in's HTTP server)."""

import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from typing import Any, Dict, List

from cocalc_standin.api_jupyter import compute_hash
from cocalc_standin.jupyter import CELL_TIMEOUT_S, KernelError, KernelManager, shape_outputs
from cocalc_standin.store import iso

from helpers import bridge, needs_jupyter, new_project, process_gone, start_standin


def _msg(msg_type: str, content: dict) -> dict:
    return {"msg_type": msg_type, "content": content}


class ShapeOutputsTest(unittest.TestCase):
    """How kernel messages become CoCalc outputs (no kernel needed)."""

    def test_bookkeeping_and_empty_fields_are_dropped(self) -> None:
        messages = [
            _msg("status", {"execution_state": "busy"}),
            _msg("execute_input", {"code": "1+1", "execution_count": 1}),
            _msg("execute_result", {"data": {"text/plain": "2"}, "metadata": {}, "execution_count": 1}),
            _msg("display_data", {"data": {"image/png": "AA=="}, "metadata": {"w": 1}, "transient": {}}),
            _msg("comm_msg", {"comm_id": "c1", "data": {}}),
            _msg("status", {"execution_state": "idle"}),
            _msg("execute_reply", {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}),
        ]
        self.assertEqual(
            shape_outputs(messages),
            [{"data": {"text/plain": "2"}}, {"data": {"image/png": "AA=="}, "metadata": {"w": 1}}],
        )

    def test_clear_output_starts_over_and_is_kept(self) -> None:
        messages = [_msg("stream", {"name": "stdout", "text": "a"}), _msg("clear_output", {"wait": False})]
        self.assertEqual(shape_outputs(messages), [{"wait": False}])

    def test_output_over_the_cell_limit_is_replaced_but_tracebacks_stay(self) -> None:
        big = "x" * 1000001
        error = {"ename": "E", "evalue": "", "traceback": ["tb"]}
        out = shape_outputs([_msg("stream", {"name": "stdout", "text": big}), _msg("error", error)])
        self.assertEqual(out[1], error)
        self.assertEqual(out[0]["name"], "stdout")
        self.assertIn("exceeded the cell output limit of 1000000 characters", out[0]["text"][0])


@needs_jupyter
class KernelManagerTest(unittest.TestCase):
    """One project home with real kernels, shared by the tests of this class."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory(prefix="standin-jupyter-")
        cls.home = cls.tmp.name
        cls.env = {"HOME": cls.home, "PATH": os.environ["PATH"]}
        cls.km = KernelManager(cls.home, cls.env)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.km.shutdown_all()
        cls.tmp.cleanup()

    def execute(self, code: str, history=None, **kw):
        return self.km.execute("python3", code, history or [], kw.pop("timeout", CELL_TIMEOUT_S), **kw)

    def runtime_dir(self) -> str:
        return os.path.join(self.home, ".local", "share", "jupyter", "runtime")

    # ------------------------------------------------------------- kernelspecs

    def test_kernelspecs_have_cocalcs_shape_and_python3(self) -> None:
        specs = {k["name"]: k for k in self.km.kernelspecs()}
        self.assertIn("python3", specs)
        py = specs["python3"]
        self.assertEqual(list(py)[:3], ["name", "display_name", "language"])
        self.assertEqual(list(py)[-2:], ["resource_dir", "argv"])
        self.assertEqual(py["language"], "python")
        self.assertIsInstance(py["env"], dict)
        self.assertIn("{connection_file}", py["argv"])
        self.assertTrue(os.path.isdir(py["resource_dir"]))

    def test_a_kernelspec_installed_with_user_under_home_shows_up_and_runs(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--user", "--name=selftest-kern", "--display-name=Selftest"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        specs = {k["name"]: k for k in self.km.kernelspecs()}
        self.assertIn("selftest-kern", specs)
        self.assertTrue(specs["selftest-kern"]["resource_dir"].startswith(self.home))
        self.assertEqual(self.km.execute("selftest-kern", "6 * 7", [], CELL_TIMEOUT_S), [{"data": {"text/plain": "42"}}])

    # ----------------------------------------------------------------- execute

    def test_execute_sum(self) -> None:
        self.assertEqual(self.execute("sum(range(100))"), [{"data": {"text/plain": "4950"}}])

    def test_history_runs_first_and_its_output_is_dropped(self) -> None:
        out = self.execute("sum(range(a + 1))", history=["print('hidden')", "a = 100"])
        self.assertEqual(out, [{"data": {"text/plain": "5050"}}])

    def test_failing_history_does_not_stop_the_input(self) -> None:
        self.assertEqual(self.execute("1", history=["1/0"]), [{"data": {"text/plain": "1"}}])

    def test_print_is_a_stream_output(self) -> None:
        self.assertEqual(self.execute("print('Hello')"), [{"name": "stdout", "text": "Hello\n"}])

    def test_error_output_shape(self) -> None:
        out = self.execute("1/0")
        self.assertEqual(len(out), 1)
        self.assertEqual(set(out[0]), {"ename", "evalue", "traceback"})
        self.assertEqual((out[0]["ename"], out[0]["evalue"]), ("ZeroDivisionError", "division by zero"))
        self.assertIsInstance(out[0]["traceback"], list)

    def test_each_execution_gets_a_fresh_kernel(self) -> None:
        self.execute("leftover = 1")
        self.assertEqual(self.execute("leftover")[0]["ename"], "NameError")

    def test_code_runs_in_a_temp_dir_or_in_path_relative_to_home(self) -> None:
        cwd = self.execute("import os; print(os.getcwd())")[0]["text"].strip()
        self.assertTrue(os.path.basename(cwd).startswith("cocalc"), cwd)
        self.assertFalse(os.path.exists(cwd), "the temp dir is removed with the kernel")
        os.makedirs(os.path.join(self.home, "work"), exist_ok=True)
        out = self.execute("import os; print(os.getcwd())", path="work")
        self.assertEqual(out, [{"name": "stdout", "text": os.path.join(self.home, "work") + "\n"}])

    def test_timeout_interrupts_the_cell(self) -> None:
        start = time.monotonic()
        out = self.execute("import time; print('started', flush=True); time.sleep(60)", timeout=1)
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(out[0], {"name": "stdout", "text": "started\n"})
        self.assertEqual(out[-1]["ename"], "KeyboardInterrupt")

    def test_unknown_kernel_text(self) -> None:
        with self.assertRaises(KernelError) as cm:
            self.km.execute("no-such-kernel", "1", [], CELL_TIMEOUT_S)
        text = str(cm.exception)
        self.assertTrue(
            text.startswith(
                'Error: **Unable to Spawn Jupyter Kernel:**\n\nError: No spec available for kernel "no-such-kernel".  '
                'Available specs: ["'
            ),
            text,
        )
        self.assertIn("`jupyter console --kernel=no-such-kernel`", text)

    def test_concurrent_executions(self) -> None:
        results = {}

        def work(i: int) -> None:
            results[i] = self.execute("%d * 3" % i)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, {i: [{"data": {"text/plain": str(i * 3)}}] for i in range(4)})

    # ------------------------------------------------------------ list / stop

    def test_list_and_stop_kernels(self) -> None:
        self.execute("1 + 1")
        kernels = self.km.list_kernels()
        self.assertTrue(kernels, "the pool keeps kernels running after an execution")
        for k in kernels:
            self.assertEqual(set(k), {"pid", "connectionFile"})
            self.assertIsInstance(k["pid"], int)
            self.assertEqual(os.path.dirname(k["connectionFile"]), self.runtime_dir())
            self.assertRegex(os.path.basename(k["connectionFile"]), r"^kernel-[0-9a-f-]{36}\.json$")
        victim = kernels[0]
        self.assertTrue(os.path.exists(victim["connectionFile"]))
        os.kill(victim["pid"], 0)  # a real process
        self.assertTrue(self.km.stop_kernel(victim["pid"]))
        self.assertNotIn(victim["pid"], [k["pid"] for k in self.km.list_kernels()])
        self.assertTrue(process_gone(victim["pid"]))
        self.assertFalse(os.path.exists(victim["connectionFile"]))
        self.assertEqual(self.execute("2 + 2"), [{"data": {"text/plain": "4"}}])

    def test_stop_unknown_pid_is_false_and_kills_nothing(self) -> None:
        bystander = subprocess.Popen(["sleep", "30"])
        self.addCleanup(bystander.wait)
        self.addCleanup(bystander.kill)
        self.assertFalse(self.km.stop_kernel(999999))
        self.assertFalse(self.km.stop_kernel(bystander.pid))
        self.assertIsNone(bystander.poll())

    def test_stopping_a_busy_kernel_fails_its_execution(self) -> None:
        pidfile = os.path.join(self.home, "busy.pid")
        code = "import os, time; open(%r, 'w').write(str(os.getpid())); time.sleep(60)" % pidfile
        outcome = {}

        def work() -> None:
            try:
                outcome["out"] = self.execute(code)
            except KernelError as exc:
                outcome["error"] = str(exc)

        worker = threading.Thread(target=work)
        worker.start()
        deadline = time.monotonic() + 30
        while not (os.path.exists(pidfile) and os.path.getsize(pidfile)) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(pidfile) as fh:
            pid = int(fh.read())
        self.assertIn(pid, [k["pid"] for k in self.km.list_kernels()])
        self.assertTrue(self.km.stop_kernel(pid))
        worker.join(30)
        self.assertTrue(outcome.get("error", "").startswith("Error: Kernel last terminated by signal SIGKILL."), outcome)


@needs_jupyter
class ShutdownTest(unittest.TestCase):
    def test_shutdown_all_ends_every_kernel_and_the_manager_still_works(self) -> None:
        with tempfile.TemporaryDirectory(prefix="standin-jupyter-") as home:
            km = KernelManager(home, {"HOME": home, "PATH": os.environ["PATH"]})
            try:
                km.execute("python3", "1", [], CELL_TIMEOUT_S)
                pids = [k["pid"] for k in km.list_kernels()]
                self.assertTrue(pids)
                km.shutdown_all()
                self.assertEqual(km.list_kernels(), [])
                self.assertTrue(all(process_gone(pid) for pid in pids))
                self.assertEqual(km.execute("python3", "3", [], CELL_TIMEOUT_S), [{"data": {"text/plain": "3"}}])
            finally:
                km.shutdown_all()
            runtime = os.path.join(home, ".local", "share", "jupyter", "runtime")
            self.assertEqual(os.listdir(runtime), [])


class ComputeHashTest(unittest.TestCase):
    def test_the_hash_of_a_real_cocalc_execution(self) -> None:
        # jupyter_api_log.hash of print('422dd428') run through a real CoCalc hub in this project
        project_id = "958a4169-5788-47c4-862c-80d3644073a2"
        expected = "ee9763dbef9a189034b6b32e615cd69e6a702cd0"
        self.assertEqual(compute_hash(None, "print('422dd428')", "python3", project_id, None), expected)
        self.assertEqual(compute_hash([], " print('422dd428')\n", " Python3\ufeff", project_id, None), expected)
        self.assertNotEqual(compute_hash([""], "print('422dd428')", "python3", project_id, None), expected)
        self.assertNotEqual(compute_hash(None, "print('422dd428')", "python3", project_id, "a"), expected)


@needs_jupyter
class HubExecuteTest(unittest.TestCase):
    """``jupyter.execute`` through the hub: CoCalc's cache (``jupyter_api_cache``) and log (``jupyter_api_log``)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.env = start_standin()
        cls.project_id = new_project(cls.env)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.env.close()

    def execute(self, **options: Any) -> Any:
        _, answer = bridge(self.env, "hub", "jupyter.execute", [dict(options, project_id=self.project_id)],
                           timeout=90000)
        return answer

    def fresh_code(self) -> str:
        """Code whose every run answers something new (a cache hit answers the old output)."""
        return f"import uuid; uuid.uuid4().hex  # {uuid.uuid4().hex}"

    def saved(self, digest: str, count: int = 1) -> List[Dict[str, Any]]:
        """The cache rows of *digest* once there are *count* (they are written after the answer)."""
        deadline = time.monotonic() + 30
        while True:
            rows = self.env.store.query("SELECT * FROM jupyter_api_cache WHERE hash=:h ORDER BY id", h=digest)
            if len(rows) == count or time.monotonic() > deadline:
                return rows
            time.sleep(0.02)

    def log(self, digest: str) -> List[Dict[str, Any]]:
        return self.env.store.query("SELECT * FROM jupyter_api_log WHERE hash=:h ORDER BY id", h=digest)

    def digest(self, code: str, **options: Any) -> str:
        return compute_hash(options.get("history"), code, "python3", self.project_id, options.get("path"))

    def test_a_repeated_execution_is_answered_from_the_cache(self) -> None:
        code = self.fresh_code()
        first = self.execute(input=code, kernel="python3")
        self.assertEqual(list(first), ["output", "created"])
        (row,) = self.saved(self.digest(code))
        self.assertEqual(iso(row["created"]), first["created"])
        again = self.execute(input=code + "\n", kernel="python3 ")
        self.assertEqual(again, {"id": row["id"], "output": first["output"], "created": first["created"]})
        self.assertEqual(len(self.log(self.digest(code))), 1, "a cache hit is not logged")
        (used,) = self.saved(self.digest(code))
        self.assertGreater(used["last_active"], row["last_active"])

    def test_another_input_runs(self) -> None:
        code = self.fresh_code()
        first = self.execute(input=code, kernel="python3")
        self.saved(self.digest(code))
        other = self.execute(input=code + " ", kernel="python3", history=["x = 1"])
        self.assertEqual(list(other), ["output", "created"])
        self.assertNotEqual(other["output"], first["output"])
        self.assertGreater(other["created"], first["created"])
        self.assertEqual(len(self.saved(self.digest(code, history=["x = 1"]))), 1)

    def test_no_cache_runs_again_and_replaces_the_saved_output(self) -> None:
        code = self.fresh_code()
        first = self.execute(input=code, kernel="python3")
        (old,) = self.saved(self.digest(code))
        rerun = self.execute(input=code, kernel="python3", noCache=True)
        self.assertNotEqual(rerun["output"], first["output"])
        deadline = time.monotonic() + 30
        while self.saved(self.digest(code))[0]["id"] == old["id"] and time.monotonic() < deadline:
            time.sleep(0.02)
        (new,) = self.saved(self.digest(code))
        self.assertEqual(iso(new["created"]), rerun["created"])
        self.assertEqual(len(self.log(self.digest(code))), 2)

    def test_a_hash_alone_only_looks_up_the_cache(self) -> None:
        code = self.fresh_code()
        first = self.execute(input=code, kernel="python3")
        (row,) = self.saved(self.digest(code))
        self.assertEqual(self.execute(hash=self.digest(code)), dict(first, id=row["id"]))
        self.assertIsNone(self.execute(hash="0" * 40))

    def test_the_log_row(self) -> None:
        code = self.fresh_code()
        options = dict(input=code, kernel="python3", history=["a = 1", " "], path=".", tag="selftest",
                       anonymous_id="cookie")
        answer = self.execute(**options)
        digest = self.digest(code, history=["a = 1", " "], path=".")
        self.saved(digest)
        (row,) = self.log(digest)
        self.assertEqual(iso(row["created"]), answer["created"])
        self.assertEqual((row["account_id"], row["project_id"]), (self.env.admin_account_id, self.project_id))
        self.assertEqual((row["kernel"], row["input"], row["history"]), ("python3", code, ["a = 1", " "]))
        self.assertEqual((row["path"], row["tag"], row["analytics_cookie"]), (".", "selftest", "cookie"))
        self.assertGreater(row["total_time_s"], 0)
        self.assertAlmostEqual((row["expire"] - row["created"]).days, 30, delta=1)

    def test_cocalcs_type_errors(self) -> None:
        cases = [
            ({"input": 5, "kernel": "python3"}, "TypeError: input.trim is not a function"),
            ({"input": "1", "kernel": 5}, "TypeError: kernel.toLowerCase is not a function"),
            ({"input": "1", "kernel": "python3", "history": "ab"}, "TypeError: (history ?? []).map is not a function"),
            ({"input": "1", "kernel": "python3", "history": [5]}, "TypeError: x.trim is not a function"),
        ]
        for options, error in cases:
            self.assertEqual(self.execute(**options), {"error": error}, options)


if __name__ == "__main__":
    unittest.main()
