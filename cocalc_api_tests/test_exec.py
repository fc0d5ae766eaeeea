"""The project's environment: ``exec``'s options, async jobs and ``signal``, ``version``, ``configuration``.

What CoCalc's project reports is asserted as it is, including its odd parts,
measured on a real server: an async job that exits non-zero is reported as
``status: "error"`` with exit code 1 (and ``"No result"`` when it wrote no
stderr), and a job killed by a signal as ``completed`` with exit code 0.
"""
import datetime
import time
import uuid
from typing import Any, Dict

from .support import CLOCK_SKEW, ProjectTestCase, parse_time, prepare

#: Seconds an async job sleeps before it writes its output (long enough to be seen running and sampled).
JOB_SLEEP = 3
#: Seconds an async job waits for the file that lets it end.
GATE_WAIT = 50
#: Seconds to wait for an async job when awaiting it.
AWAIT_TIMEOUT = 60
#: Seconds the bridge waits beyond a command's own timeout, so the command's kill is answered.
BRIDGE_MARGIN = 30
#: The earliest plausible build of a CoCalc project server (2015-01-01), in seconds since the epoch.
OLDEST_VERSION = 1420070400
#: Keys of ``configuration("main")``'s capabilities (``sage_version`` only appears with Sage).
MAIN_CAPABILITIES = {
    "jupyter", "rserver", "formatting", "hashsums", "latex", "sage", "x11", "rmd", "qmd", "jq", "spellcheck",
    "library", "sshd", "html2pdf", "pandoc", "vscode", "julia", "homeDirectory",
}
#: Main capabilities that are simply whether a program of that name is on the project's PATH.
PROGRAM_CAPABILITIES = {"jq": "jq", "pandoc": "pandoc", "julia": "julia", "rmd": "R", "qmd": "quarto", "x11": "xpra",
                        "spellcheck": "aspell", "vscode": "code-server", "rserver": "rserver"}
#: X11 applications whose program has the application's name, and a few whose program does not.
X11_PROGRAMS = {"emacs": "emacs", "gedit": "gedit", "inkscape": "inkscape", "gimp": "gimp", "evince": "evince",
                "vscode": "code", "terminal": "gnome-terminal", "octave": "octave-gui"}
#: What ``seq 1 1000`` prints.
SEQ_1000 = "".join(f"{n}\n" for n in range(1, 1001))


def setUpModule() -> None:
    prepare(jupyter=False)


class ExecTestCase(ProjectTestCase):
    def start_job(self, command: str, **kwargs: Any) -> Dict[str, Any]:
        """Start *command* as an async job; its first answer, checked."""
        before = time.time()
        job = self.call(self.project.system.exec, command, async_call=True, **kwargs)
        self.assertEqual((job.get("type"), job.get("status")), ("async", "running"), f"async_call answered {job!r}")
        self.assertEqual((job.get("stdout"), job.get("stderr"), job.get("exit_code")), ("", "", 0), f"{job!r}")
        self.assertEqual(str(uuid.UUID(job.get("job_id", ""))), job["job_id"])
        self.assertIsInstance(job.get("start"), int)
        started, after = job["start"] / 1000, time.time()  # the call may have waited on a busy server
        self.assertTrue(before - CLOCK_SKEW < started < after + CLOCK_SKEW,
                        f"the job's start {job['start']} is not between the call and its answer")
        return job

    def await_job(self, job: Dict[str, Any], **kwargs: Any) -> Dict[str, Any]:
        """The job's state once it has ended (``async_await``), checked against its first answer."""
        done = self.call(self.project.system.exec, async_get=job["job_id"], async_await=True, timeout=AWAIT_TIMEOUT, **kwargs)
        self.assertNotEqual(done.get("status"), "running", f"async_await answered before the end: {done!r}")
        for key in ("job_id", "start", "pid"):
            self.assertEqual(done.get(key), job.get(key), f"{key} changed between {job!r} and {done!r}")
        self.assertEqual(done.get("type"), "async")
        return done


class TestExecOptions(ExecTestCase):
    def test_err_on_exit_false_gives_the_exit_code_as_data(self) -> None:
        answer = self.call(self.project.system.exec, "echo out; echo err >&2; exit 3", bash=True, err_on_exit=False)
        self.assertEqual(answer, {"type": "blocking", "stdout": "out\n", "stderr": "err\n", "exit_code": 3})
        answer = self.call(self.project.system.exec, "false", err_on_exit=False)
        self.assertEqual(answer, {"type": "blocking", "stdout": "", "stderr": "", "exit_code": 1})

    def test_timeout_kills_the_command(self) -> None:
        started = time.monotonic()
        error = self.assertCallFails(self.project.system.exec, "sleep", args=["30"], timeout=2,
                                     bridge_timeout=2 + BRIDGE_MARGIN, contains="killed")
        self.assertEqual(error.message, "killed command 'sleep 30'")
        self.assertLess(time.monotonic() - started, 25, "the timeout did not end the command in time")

    def test_timeout_kills_the_process_and_its_children(self) -> None:
        marker = f"30.{uuid.uuid4().int % 10**6:06d}"
        error = self.assertCallFails(self.project.system.exec, f"sleep {marker} & sleep {marker}; wait", timeout=2,
                                     bridge_timeout=2 + BRIDGE_MARGIN, contains="killed")
        self.assertRegex(error.message, r"^killed command 'bash /.+/a\.sh'$", "with bash CoCalc names its script")
        left = self.poll_call(
            self.project.system.exec, "ps", args=["-eo", "args"],
            accept=lambda out: f"sleep {marker}" not in out["stdout"].splitlines(),
            what=f"no 'sleep {marker}' process left",
        )
        self.assertNotIn(f"sleep {marker}", left["stdout"].splitlines())

    def test_max_output_truncates_with_a_note(self) -> None:
        answer = self.call(self.project.system.exec, "seq", args=["1", "1000"], max_output=50)
        self.assertEqual(answer["stdout"], SEQ_1000[:50] + " (truncated at 50 characters)")
        answer = self.call(self.project.system.exec, "seq 1 1000 >&2; exit 4", bash=True, max_output=20, err_on_exit=False)
        self.assertEqual(answer, {"type": "blocking", "stdout": "", "stderr": SEQ_1000[:20] + " (truncated at 20 characters)",
                                  "exit_code": 4})

    def test_env_is_added_to_the_environment(self) -> None:
        answer = self.call(
            self.project.system.exec, 'echo "$WIRE_A|$WIRE_B|$N|$T|$HOME"', bash=True,
            env={"WIRE_A": "\u00e4-value", "WIRE_B": "two words", "N": 5, "T": True},
        )
        self.assertEqual(answer["stdout"], f"\u00e4-value|two words|5|true|{self.project_home()}\n")

    def test_path_is_relative_to_home_and_cwd_is_absolute(self) -> None:
        home, folder = self.project_home(physical=True), self.new_folder_name("exec")
        self.exec_ok("mkdir", args=["-p", f"{folder}/sub"])
        self.assertEqual(self.exec_ok("pwd")["stdout"], f"{home}\n", "exec runs in the home folder by default")
        self.assertEqual(self.exec_ok("pwd", path=f"{folder}/sub")["stdout"], f"{home}/{folder}/sub\n")
        self.assertEqual(self.exec_ok("pwd", path="/")["stdout"], "/\n")
        self.assertEqual(self.exec_ok("pwd", cwd="/", path=folder)["stdout"], "/\n", "cwd wins over path")

    def test_missing_path_is_a_spawn_failure(self) -> None:
        error = self.assertCallFails(self.project.system.exec, "pwd", path=self.new_folder_name("none"), contains="ENOENT")
        self.assertEqual(
            error.message,
            "command ''pwd' (args=)' exited with nonzero code 1 -- stderr="
            '\'{"errno":-2,"code":"ENOENT","syscall":"spawn pwd","path":"pwd","spawnargs":[]}\'',
        )


class TestAsyncExec(ExecTestCase):
    def test_async_job_runs_and_reports_at_its_end(self) -> None:
        # The job waits for a file the test writes once it has seen the job running: however slow the server,
        # the job cannot end before it is looked at.
        gate = self.scratch_path(self.unique_name("gate"))
        job = self.start_job(f"for i in $(seq {GATE_WAIT * 10}); do [ -e {gate} ] && break; sleep 0.1; done; "
                             "echo done-async; echo e >&2", bash=True)
        answered = time.monotonic()
        self.assertIsInstance(job.get("pid"), int)
        running = self.call(self.project.system.exec, async_get=job["job_id"])
        self.assertEqual(running.get("status"), "running", f"async_get before the job's gate opened answered {running!r}")
        opened = time.monotonic()  # the gate opens after this (the job began before its start was answered)
        self.exec_ok("touch", args=[gate])
        done = self.await_job(job)
        self.assertEqual(
            {k: done.get(k) for k in ("status", "stdout", "stderr", "exit_code")},
            {"status": "completed", "stdout": "done-async\n", "stderr": "e\n", "exit_code": 0},
        )
        self.assertGreaterEqual(done.get("elapsed_s", 0), (opened - answered) * 0.9, f"the job took {done.get('elapsed_s')} s")
        self.assertLess(done["elapsed_s"], GATE_WAIT, "the job ended at its own deadline, not when its gate opened")
        self.assertNotIn("stats", done, "samples are only answered with async_stats")

    def test_async_stats_are_samples_of_the_running_job(self) -> None:
        job = self.start_job("sleep", args=[str(JOB_SLEEP)])
        done = self.await_job(job)
        stats = self.call(self.project.system.exec, async_get=job["job_id"], async_stats=True).get("stats")
        self.assertIsInstance(stats, list, "a job that ran for seconds has resource samples")
        self.assertGreaterEqual(len(stats), 1, "the first sample is taken after one second")
        end = job["start"] + done["elapsed_s"] * 1000
        for sample in stats:
            with self.subTest(sample=sample):
                self.assertEqual(set(sample), {"timestamp", "mem_rss", "cpu_pct", "cpu_secs"})
                self.assertGreaterEqual(sample["timestamp"], job["start"] + 900)
                self.assertLessEqual(sample["timestamp"], end + 1000)
                self.assertGreater(sample["mem_rss"], 0, "a sleeping process still uses memory")
                self.assertGreaterEqual(sample["cpu_secs"], 0)

    def test_async_job_with_err_on_exit_false_keeps_its_output(self) -> None:
        done = self.await_job(self.start_job("echo o; echo e >&2; exit 5", bash=True, err_on_exit=False))
        self.assertEqual(
            {k: done.get(k) for k in ("status", "stdout", "stderr", "exit_code")},
            {"status": "completed", "stdout": "o\n", "stderr": "e\n", "exit_code": 5},
        )

    def test_async_non_zero_exit_is_reported_as_an_error_with_stderr(self) -> None:
        """CoCalc replaces a failed job's output with its stderr, and its exit code with 1."""
        done = self.await_job(self.start_job("echo o; echo e >&2; exit 5", bash=True))
        self.assertEqual(
            {k: done.get(k) for k in ("status", "stdout", "stderr", "exit_code")},
            {"status": "error", "stdout": "", "stderr": "e\n", "exit_code": 1},
        )
        done = self.await_job(self.start_job("exit 5", bash=True))
        self.assertEqual((done.get("status"), done.get("stderr"), done.get("exit_code")), ("error", "No result", 1))

    def test_async_timeout_kills_the_job(self) -> None:
        done = self.await_job(self.start_job("sleep", args=["30"], timeout=2))
        self.assertEqual(
            {k: done.get(k) for k in ("status", "stdout", "stderr", "exit_code")},
            {"status": "error", "stdout": "", "stderr": "killed command 'sleep 30'", "exit_code": 1},
        )
        self.assertLess(done.get("elapsed_s", 99), 20)
        self.wait_process_gone(done["pid"], "the killed job's process")

    def test_unknown_job_is_an_error(self) -> None:
        job_id = str(uuid.uuid4())
        error = self.assertCallFails(self.project.system.exec, async_get=job_id, contains="does not exist")
        self.assertEqual(error.message, f"Error: Async operation '{job_id}' does not exist.")


class TestSignal(ExecTestCase):
    def test_sigterm_ends_a_process_the_test_started(self) -> None:
        job = self.start_job("sleep", args=["600"], timeout=120)
        pid = job["pid"]
        self.assertIsNone(self.call(self.project.system.signal, 0, pid=pid), "signal 0 only checks the process exists")
        self.assertTrue(self.process_alive(pid))
        self.assertIsNone(self.call(self.project.system.signal, 15, pid=pid))
        self.wait_process_gone(pid, "the signalled sleep")
        done = self.await_job(job)
        self.assertEqual((done.get("status"), done.get("exit_code")), ("completed", 0),
                         "CoCalc reports a job killed by a signal as completed with exit code 0")
        self.assertLess(done.get("elapsed_s", 600), 300)

    def test_signal_to_a_missing_process_is_esrch(self) -> None:
        pid_max = int(self.exec_ok("cat", args=["/proc/sys/kernel/pid_max"])["stdout"])  # never a process id
        error = self.assertCallFails(self.project.system.signal, 15, pid=pid_max, contains="ESRCH")
        self.assertEqual(error.message, "Error: kill ESRCH")
        error = self.assertCallFails(self.project.system.signal, 0, pids=[pid_max, pid_max], contains="ESRCH")
        self.assertEqual(error.message, "Error: kill ESRCH")

    def test_signal_names_are_accepted(self) -> None:
        job = self.start_job("sleep", args=["600"], timeout=120)
        self.assertIsNone(self.call(self.project.system.signal, "SIGKILL", pids=[job["pid"]]))
        self.wait_process_gone(job["pid"], "the SIGKILLed sleep")
        error = self.assertCallFails(self.project.system.signal, "SIGNOPE", pid=job["pid"], contains="Unknown signal")
        self.assertEqual(error.message, "TypeError [ERR_UNKNOWN_SIGNAL]: Unknown signal: SIGNOPE")


class TestVersionAndConfiguration(ExecTestCase):
    def have(self, *programs: str) -> Dict[str, bool]:
        """Whether each program is on the PATH the project's configuration searches (``~/bin`` first)."""
        names = " ".join(f"'{p}'" for p in programs)
        script = f'PATH="$HOME/bin:$HOME/.local/bin:$PATH"; for p in {names}; do command -v "$p" >/dev/null && echo 1 || echo 0; done'
        flags = self.exec_ok(script, bash=True)["stdout"].split()
        self.assertEqual(len(flags), len(programs))
        return {program: flag == "1" for program, flag in zip(programs, flags)}

    def test_version_is_a_build_time(self) -> None:
        version = self.call(self.project.system.version)
        self.assertIsInstance(version, int)
        self.assertGreater(version, OLDEST_VERSION, "the version is seconds since the epoch at the build")
        self.assertLess(version, time.time() + CLOCK_SKEW, "the version lies in the future")
        self.assertEqual(self.call(self.project.system.version), version)

    def test_main_configuration_matches_the_projects_programs(self) -> None:
        config = self.call(self.project.system.configuration, "main")
        self.assertEqual(set(config), {"timestamp", "capabilities"}, f"configuration('main') answered {config!r}")
        caps = config["capabilities"]
        self.assertEqual(set(caps) - {"sage_version"}, MAIN_CAPABILITIES)
        self.assertEqual(caps["homeDirectory"], self.project_home(physical=True))
        self.assertIs(caps["formatting"].get("prettier"), True, "prettier is part of CoCalc's project")
        self.assertEqual(set(caps["hashsums"]), {"sha1sum", "sha256sum", "md5sum"})
        found = self.have(*PROGRAM_CAPABILITIES.values(), *caps["hashsums"])
        self.assertEqual({k: caps[k] for k in PROGRAM_CAPABILITIES}, {k: found[p] for k, p in PROGRAM_CAPABILITIES.items()})
        self.assertEqual(caps["hashsums"], {k: found[k] for k in caps["hashsums"]})
        # (the Jupyter warm-up may install jupyter while the run goes on: only its shape is checked)
        jupyter = caps["jupyter"]
        self.assertTrue(jupyter is False or (set(jupyter) == {"lab", "notebook", "kernelspec"}
                                             and all(isinstance(v, bool) for v in jupyter.values())), f"{jupyter!r}")

    def test_configuration_is_computed_once_per_project_run(self) -> None:
        first = self.call(self.project.system.configuration, "main")
        moment = parse_time(first["timestamp"])
        self.assertLess(moment, datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=CLOCK_SKEW))
        self.assertEqual(self.call(self.project.system.configuration, "main")["timestamp"], first["timestamp"],
                         "a second call is answered from the project's cache")
        fresh = self.call(self.project.system.configuration, "main", no_cache=True)
        self.assertGreaterEqual(parse_time(fresh["timestamp"]), moment)
        self.assertRecent(parse_time(fresh["timestamp"]), "configuration('main', no_cache)'s timestamp")
        self.assertEqual(self.call(self.project.system.configuration, "main")["timestamp"], fresh["timestamp"],
                         "no_cache replaces the cached configuration")

    def test_x11_configuration_lists_the_applications(self) -> None:
        config = self.call(self.project.system.configuration, "x11")
        apps = config["capabilities"]
        self.assertIs(apps.get("unknown_test"), False, "CoCalc's test entry names a program nobody has")
        self.assertTrue(set(X11_PROGRAMS) <= set(apps), f"x11 capabilities {sorted(apps)}")
        self.assertTrue(all(isinstance(v, bool) for v in apps.values()), f"x11 capabilities {apps!r}")
        found = self.have(*X11_PROGRAMS.values())
        self.assertEqual({app: apps[app] for app in X11_PROGRAMS}, {app: found[p] for app, p in X11_PROGRAMS.items()})

    def test_unknown_aspect_answers_nothing(self) -> None:
        self.assertIsNone(self.call(self.project.system.configuration, "no-such-aspect"))
