"""The stand-in's profiles (``fast``, ``real``), its time scale, and CoCalc's bridge timeouts.

Everything is shown through the stand-in's real HTTP server: one ``fast``
stand-in and one ``real`` stand-in compressed to :data:`SCALE`.  Bounds are
generous: a ``real`` delay must be at least its scaled length, a ``fast`` one
shorter than the same delay at full scale.
"""
import os
import signal
import subprocess
import tempfile
import time
import unittest
import uuid
from typing import Any, Dict, Tuple

from cocalc_api_tests.client import Hub
from cocalc_standin import profile as profiles
from cocalc_standin.launch import _split_profile
from cocalc_standin.profile import ProfileError, get_profile, parse_scale
from cocalc_standin.projects import SIGKILL_GRACE, Projects

from helpers import assert_one_paragraph, bridge, needs_jupyter, new_project, start_standin
from suite_runner import PY, ROOT, clean_environ, run

SCALE = 0.05
REAL: Any = None
FAST: Any = None


def setUpModule() -> None:
    global REAL, FAST
    REAL = start_standin(profile=get_profile("real", SCALE))
    FAST = start_standin()


def hub_timeout(env: Any, name: str, how: str = "timeout") -> str:
    return f"{how} - callHub: subject='hub.account.{env.admin_account_id}.api', name='{name}', code='408' "


def project_timeout(project_id: str, name: str, how: str = "timeout", server: int = 0) -> str:
    return f"{how} - callHub: subject='project.{project_id}.{server}.api.-', name='{name}', code='408' "


OPERATION = "timeout - Error: operation has timed out"


class ProfileValuesTest(unittest.TestCase):
    """Names, scale and CoCalc's polling schedule, without a server."""

    def test_scale_parsing(self) -> None:
        self.assertEqual(parse_scale(None), 1.0)
        self.assertEqual(parse_scale(" "), 1.0)
        self.assertEqual(parse_scale("0.05"), 0.05)
        for bad in ("0", "-1", "abc", "nan", "inf"):
            with self.assertRaises(ProfileError) as cm:
                parse_scale(bad)
            self.assertIn(profiles.SCALE_VARIABLE, str(cm.exception))
            self.assertNotIn("\n", str(cm.exception))

    def test_unknown_profile_lists_the_names(self) -> None:
        with self.assertRaises(ProfileError) as cm:
            get_profile("slow")
        self.assertIn("fast, real", str(cm.exception))

    def test_fast_is_the_default_and_has_no_latency(self) -> None:
        fast = get_profile()
        self.assertEqual(fast.name, "fast")
        self.assertEqual((fast.project_startup, fast.jupyter_stalls), (0, 0))
        self.assertFalse(fast.ignores_sigterm)

    def test_the_scale_multiplies_latencies_and_polling(self) -> None:
        real = get_profile("real", 0.5)
        self.assertEqual(real.seconds(10), 5)
        intervals = real.poll_intervals()
        # CoCalc's until(): 250 ms growing by 1.25, first wait 312.5 ms (here halved)
        self.assertAlmostEqual(next(intervals), 0.15625)
        self.assertAlmostEqual(next(intervals), 0.1953125)

    def test_run_takes_a_leading_profile(self) -> None:
        self.assertEqual(_split_profile(["--profile", "real", "-v"]), ("real", ["-v"]))
        self.assertEqual(_split_profile(["--profile=real"]), ("real", []))
        self.assertEqual(_split_profile(["-v", "--profile", "real"]), ("fast", ["-v", "--profile", "real"]))
        with self.assertRaises(ProfileError):
            _split_profile(["--profile"])


class CommandLineTest(unittest.TestCase):
    def assert_one_paragraph_error(self, argv: list, environ: Dict[str, str], *needles: str) -> None:
        status, _, err = run(argv, environ, timeout=60)
        assert_one_paragraph(self, status, err, *needles)

    def test_unknown_profile_and_bad_scale_are_one_paragraph(self) -> None:
        script = os.path.join(ROOT, "scripts", "run_tests.sh")
        self.assert_one_paragraph_error([script, "--standin", "--profile", "slow"], clean_environ(), "fast, real")
        self.assert_one_paragraph_error([PY, "-m", "cocalc_standin", "serve", "--profile", "slow"],
                                        clean_environ(), "fast, real")
        self.assert_one_paragraph_error([script, "--standin", "--profile", "real"],
                                        clean_environ(COCALC_STANDIN_TIME_SCALE="fast"), profiles.SCALE_VARIABLE)
        self.assert_one_paragraph_error([script, "--profile", "real"], clean_environ(), "--standin --profile")

    def test_standin_sh_serves_the_profile_at_the_scale(self) -> None:
        environ = clean_environ(COCALC_STANDIN_TIME_SCALE=str(SCALE))
        child = subprocess.Popen([os.path.join(ROOT, "scripts", "standin.sh"), "--profile", "real"], cwd=ROOT,
                                 env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(child.communicate)
        self.addCleanup(child.send_signal, signal.SIGTERM)
        exports = {}
        for line in child.stdout:
            if line.startswith("export "):
                key, _, value = line[len("export "):].strip().partition("=")
                exports[key] = value.strip("'")
            if line.startswith("#"):
                self.assertIn(f"profile real, time scale {SCALE:g}", line)
                break
        hub = Hub(exports["COCALC_API_KEY"], exports["COCALC_HOST"])
        self.addCleanup(hub.close)
        project_id = hub.projects.create_project(title="standin.sh profile")
        started = time.monotonic()
        hub.projects.start(project_id)
        self.assertGreaterEqual(time.monotonic() - started, get_profile("real", SCALE).seconds(1.5), "a start is not slow")


class ProjectLifecycleTest(unittest.TestCase):
    """Starting and stopping cost what they cost on a real CoCalc, and nothing with ``fast``."""

    def lifecycle(self, env: Any) -> Dict[str, float]:
        project_id = new_project(env)
        seconds = {}
        seconds["start"], _ = bridge(env, "hub", "projects.start", [{"project_id": project_id}])
        _, pong = bridge(env, "project", "system.ping", project_id=project_id)
        self.assertIn("now", pong)
        seconds["stop"], _ = bridge(env, "hub", "projects.stop", [{"project_id": project_id}])
        _, state = bridge(env, "hub", "projects.state", [{"project_id": project_id}])
        self.assertEqual(state["state"], "opened")
        seconds["stop stopped"], _ = bridge(env, "hub", "projects.stop", [{"project_id": project_id}])
        seconds["touch"], _ = bridge(env, "hub", "projects.touch", [{"project_id": project_id}])
        bridge(env, "hub", "projects.stop", [{"project_id": project_id}])
        seconds["project call"], _ = bridge(env, "project", "system.ping", project_id=project_id)
        bridge(env, "hub", "projects.stop", [{"project_id": project_id}])
        return seconds

    def test_real_start_and_stop_take_their_time(self) -> None:
        real = REAL.profile
        seconds = self.lifecycle(REAL)
        for what in ("start", "touch", "project call"):  # a start, explicit or implicit, waits for the project
            self.assertGreaterEqual(seconds[what], real.seconds(real.project_startup), what)
        # the project ignores SIGTERM: the stop lasts until the SIGKILL after the grace time
        self.assertGreaterEqual(seconds["stop"], real.seconds(SIGKILL_GRACE))
        self.assertLess(seconds["stop stopped"], real.seconds(SIGKILL_GRACE))

    def test_fast_start_and_stop_are_quick(self) -> None:
        seconds = self.lifecycle(FAST)
        full = get_profile("real")
        for what in ("start", "touch", "project call"):
            self.assertLess(seconds[what], full.project_startup, what)
        self.assertLess(seconds["stop"], SIGKILL_GRACE)

    def test_a_real_copy_costs_what_rsync_costs(self) -> None:
        real, fast = get_profile("real"), get_profile()
        with tempfile.TemporaryDirectory(prefix="standin-copy-") as root:
            seconds = {}
            for profile in (real, fast):
                projects = Projects(REAL.store, root, profile)
                source, target = str(uuid.uuid4()), str(uuid.uuid4())
                os.makedirs(projects.home(source))
                with open(os.path.join(projects.home(source), "a.txt"), "w", encoding="utf-8") as fh:
                    fh.write("copied")
                started = time.monotonic()
                projects.copy_path(source, "a.txt", target, "b.txt")
                seconds[profile.name] = time.monotonic() - started
                with open(os.path.join(projects.home(target), "b.txt"), encoding="utf-8") as fh:
                    self.assertEqual(fh.read(), "copied")
        self.assertGreaterEqual(seconds["real"], real.copy_latency)
        self.assertLess(seconds["fast"], real.copy_latency)

    def test_a_stop_that_times_out_goes_on(self) -> None:
        project_id = new_project(REAL)
        bridge(REAL, "hub", "projects.start", [{"project_id": project_id}])
        _, answer = bridge(REAL, "hub", "projects.stop", [{"project_id": project_id}], timeout=100)
        self.assertEqual(answer, {"error": hub_timeout(REAL, "projects.stop")})
        _, state = bridge(REAL, "hub", "projects.state", [{"project_id": project_id}])
        self.assertEqual(state, {"state": "stopping"})
        deadline = time.monotonic() + 30
        while state.get("state") != "opened" and time.monotonic() < deadline:
            time.sleep(0.05)
            _, state = bridge(REAL, "hub", "projects.state", [{"project_id": project_id}])
        self.assertEqual(state["state"], "opened")


class BridgeTimeoutTest(unittest.TestCase):
    """The request's ``timeout`` as CoCalc's bridges and conat client honour it, with their texts."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.project_id = new_project(FAST)
        bridge(FAST, "hub", "projects.start", [{"project_id": cls.project_id}])

    def test_a_slow_call_gets_timeout_on_both_endpoints(self) -> None:
        seconds, answer = bridge(FAST, "project", "system.exec", [{"command": "sleep", "args": ["3"]}],
                                 project_id=self.project_id, timeout=300)
        self.assertEqual(answer, {"error": project_timeout(self.project_id, "system.exec")})
        self.assertLess(seconds, 3)
        slow = new_project(REAL)
        _, answer = bridge(REAL, "hub", "projects.start", [{"project_id": slow}], timeout=20)
        self.assertEqual(answer, {"error": hub_timeout(REAL, "projects.start")})

    def test_a_timeout_shorter_than_the_acknowledgement_fails_at_once(self) -> None:
        for value in (1, 2, 0.5, "abc", True, {}, 2 ** 31):
            _, answer = bridge(FAST, "hub", "system.ping", timeout=value)
            self.assertEqual(answer, {"error": hub_timeout(FAST, "system.ping", OPERATION)}, value)
        _, answer = bridge(FAST, "project", "system.ping", project_id=self.project_id, timeout=1)
        self.assertEqual(answer, {"error": project_timeout(self.project_id, "system.ping", OPERATION)})

    def test_a_timeout_of_zero_or_less_is_refused(self) -> None:
        for value in (0, -5, False, []):
            _, answer = bridge(FAST, "hub", "system.ping", timeout=value)
            self.assertEqual(answer["error"], f"timeout must be positive - callHub: subject='hub.account."
                                              f"{FAST.admin_account_id}.api', name='system.ping', code='undefined' ")

    def test_numbers_in_text_and_null_are_honoured(self) -> None:
        for value in ("5000", None, 2 ** 31 - 1):
            _, answer = bridge(FAST, "hub", "system.ping", timeout=value)
            self.assertIn("now", answer, value)

    def test_a_compute_server_never_answers(self) -> None:
        seconds, answer = bridge(FAST, "project", "system.ping", project_id=self.project_id, compute_server_id=2,
                                 timeout=200)
        self.assertEqual(answer, {"error": project_timeout(self.project_id, "system.ping", OPERATION, server=2)})
        self.assertGreaterEqual(seconds, 0.2)


@needs_jupyter
class JupyterStallTest(unittest.TestCase):
    """``real``: fresh projects and stopped kernels stall executions; the callers time out."""

    EXECUTE = {"input": "6 * 7", "kernel": "python3"}
    TIMEOUT_MS = 20000

    def execute_in_project(self, env: Any, project_id: str) -> Tuple[float, Any]:
        return bridge(env, "project", "system.jupyterExecute", [self.EXECUTE], project_id=project_id,
                      timeout=self.TIMEOUT_MS)

    def kernels(self, env: Any, project_id: str) -> list:
        _, kernels = bridge(env, "project", "system.listJupyterKernels", [{}], project_id=project_id)
        return kernels

    def assert_stalls_then_answers(self, env: Any, project_id: str) -> None:
        stall = env.profile.seconds(self.TIMEOUT_MS / 1000)
        for attempt in (1, 2):
            seconds, answer = self.execute_in_project(env, project_id)
            self.assertEqual(answer, {"error": project_timeout(project_id, "system.jupyterExecute")}, attempt)
            self.assertGreaterEqual(seconds, stall, "a stalled call lasts its (scaled) timeout")
            self.assertLess(seconds, self.TIMEOUT_MS / 1000, "compressed by the scale")
            self.assertTrue(self.kernels(env, project_id), "the pool fills up while calls stall")
        _, answer = self.execute_in_project(env, project_id)
        self.assertEqual(answer, [{"data": {"text/plain": "42"}}])

    def test_fresh_project_then_stopped_kernel_stall_twice(self) -> None:
        project_id = new_project(REAL)
        self.assert_stalls_then_answers(REAL, project_id)
        victim = self.kernels(REAL, project_id)[0]["pid"]
        _, stopped = bridge(REAL, "project", "system.stopJupyterKernel", [{"pid": victim}], project_id=project_id)
        self.assertEqual(stopped, {"success": True})
        self.assert_stalls_then_answers(REAL, project_id)

    def test_fast_never_stalls(self) -> None:
        project_id = new_project(FAST)
        _, answer = self.execute_in_project(FAST, project_id)
        self.assertEqual(answer, [{"data": {"text/plain": "42"}}])

    def test_the_hub_answers_a_bare_timeout_while_the_kernel_is_cold(self) -> None:
        project_id = new_project(REAL)
        code = dict(self.EXECUTE, input=f"6 * 7  # {uuid.uuid4().hex}", project_id=project_id)
        # the bridge gives up first when the request's timeout is shorter than the hub's 60 s (scaled)
        _, answer = bridge(REAL, "hub", "jupyter.execute", [code], timeout=500)
        self.assertEqual(answer, {"error": hub_timeout(REAL, "jupyter.execute")})
        seconds, answer = bridge(REAL, "hub", "jupyter.execute", [code], timeout=90000)
        self.assertEqual(answer, {"error": "timeout"})
        self.assertGreaterEqual(seconds, REAL.profile.seconds(60))
        self.assertEqual(logged(REAL, project_id), 0, "an execution that timed out is neither cached nor logged")
        _, answer = bridge(REAL, "hub", "jupyter.execute", [code], timeout=90000)
        self.assertEqual(answer["output"], [{"data": {"text/plain": "42"}}])


def logged(env: Any, project_id: str) -> int:
    """How many hub executions in *project_id* ``jupyter_api_log`` holds."""
    return env.store.one("SELECT COUNT(*) AS n FROM jupyter_api_log WHERE project_id=:p::UUID", p=project_id)["n"]


if __name__ == "__main__":
    unittest.main()
