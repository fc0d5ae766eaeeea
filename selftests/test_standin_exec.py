"""The stand-in's ``system.exec``: real processes, CoCalc's semantics and error texts, async jobs."""

import os
import tempfile
import time
import unittest
import uuid
from typing import Any, Dict

from cocalc_api_tests.client import Hub
from cocalc_api_tests.errors import CoCalcAPIError
from cocalc_standin.execute import AsyncJobs, ExecError, run_command, shell_escape, truncate

from helpers import process_gone, start_standin


class ExecTest(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory(prefix="standin-exec-")
        self.addCleanup(tmp.cleanup)
        self.home = tmp.name
        self.env = {"HOME": self.home, "PATH": os.environ["PATH"], "BASEVAR": "base", "FOO": "old"}

    def run_(self, **opts):
        return run_command(self.home, opts, self.env)

    def error_of(self, **opts) -> ExecError:
        with self.assertRaises(ExecError) as cm:
            self.run_(**opts)
        return cm.exception

    # ------------------------------------------------------------ plain runs

    def test_stdout_stderr_exit_code(self) -> None:
        out = self.run_(command="echo out; echo err >&2", bash=True)
        self.assertEqual(out, {"type": "blocking", "stdout": "out\n", "stderr": "err\n", "exit_code": 0})

    def test_args_are_passed_verbatim_without_a_shell(self) -> None:
        out = self.run_(command="printf", args=["%s|", "a b", "$HOME", "c"])
        self.assertEqual(out["stdout"], "a b|$HOME|c|")

    def test_whitespace_without_args_means_bash(self) -> None:
        self.assertEqual(self.run_(command="echo $((6 * 7))")["stdout"], "42\n")

    def test_bash_with_args_shell_escapes_them(self) -> None:
        out = self.run_(command="echo", args=["a  b", "it's", "$HOME"], bash=True)
        self.assertEqual(out["stdout"], "a  b it's $HOME\n")

    def test_shell_escape_matches_cocalc(self) -> None:
        self.assertEqual(shell_escape(["echo", "a b", "it's", "x=y/z:1-2_3"]), "echo 'a b' 'it'\\''s' x=y/z:1-2_3")
        self.assertEqual(shell_escape(["'x"]), "\\''x'")

    def test_err_on_exit_false_returns_the_exit_code(self) -> None:
        out = self.run_(command="echo partial; exit 3", bash=True, err_on_exit=False)
        self.assertEqual((out["stdout"], out["exit_code"]), ("partial\n", 3))

    def test_death_by_signal_reports_exit_code_0_like_cocalc(self) -> None:
        self.assertEqual(self.run_(command="kill -9 $$", bash=True)["exit_code"], 0)

    # ---------------------------------------------------------------- errors

    def test_bash_exit_42_text(self) -> None:
        err = self.error_of(command="echo 'test error message' >&2; exit 42", bash=True)
        self.assertEqual(
            str(err),
            "command 'echo 'test error message' >&2; exit 42' exited with nonzero code 42 "
            "-- stderr='test error message\n'",
        )
        self.assertFalse(err.timed_out)

    def test_missing_command_text(self) -> None:
        self.assertEqual(
            str(self.error_of(command="no-such-command-xyz")),
            "command ''no-such-command-xyz' (args=)' exited with nonzero code 1 -- stderr="
            '\'{"errno":-2,"code":"ENOENT","syscall":"spawn no-such-command-xyz",'
            '"path":"no-such-command-xyz","spawnargs":[]}\'',
        )

    def test_missing_command_with_args_text(self) -> None:
        self.assertEqual(
            str(self.error_of(command="no-such-command-xyz", args=["a", "b c"])),
            "command ''no-such-command-xyz' (args=a b c)' exited with nonzero code 1 -- stderr="
            '\'{"errno":-2,"code":"ENOENT","syscall":"spawn no-such-command-xyz",'
            '"path":"no-such-command-xyz","spawnargs":["a","b c"]}\'',
        )

    def test_missing_command_without_err_on_exit_was_not_able_to_run(self) -> None:
        text = str(self.error_of(command="no-such-command-xyz", err_on_exit=False))
        self.assertTrue(text.startswith("command ''no-such-command-xyz' (args=)' was not able to run -- stderr='{"), text)

    def test_nonzero_exit_with_args_names_command_and_args(self) -> None:
        text = str(self.error_of(command="ls", args=["/no/such/dir"]))
        self.assertRegex(text, r"(?s)^command ''ls' \(args=/no/such/dir\)' exited with nonzero code 2 -- stderr='ls: .*\n'$")

    def test_long_stderr_is_cut_to_1024_characters_in_the_error(self) -> None:
        text = str(self.error_of(command="printf 'e%.0s' $(seq 1 2000) >&2; exit 1", bash=True))
        self.assertIn("stderr='" + "e" * 1023 + "\u2026'", text)
        self.assertEqual(truncate("abc", 3), "abc")
        self.assertEqual(truncate("abcd", 3), "ab\u2026")

    def test_missing_command_field(self) -> None:
        self.assertEqual(
            str(self.error_of(args=["x"])), "TypeError: Cannot read properties of undefined (reading 'split')"
        )

    # --------------------------------------------------------------- timeout

    def test_timeout_kills_with_cocalc_text(self) -> None:
        start = time.monotonic()
        err = self.error_of(command="sleep", args=["30"], timeout=1)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(str(err), "killed command 'sleep 30'")
        self.assertTrue(err.timed_out)

    def test_timeout_kills_the_whole_process_group(self) -> None:
        pidfile = os.path.join(self.home, "child.pid")
        err = self.error_of(command="sleep 60 & echo $! > %s; wait" % pidfile, timeout=1)
        self.assertRegex(str(err), r"^killed command 'bash /.+/cocalc-[^/]+/a\.sh'$")
        script_dir = os.path.dirname(str(err).split(" ")[-1].rstrip("'"))
        self.assertFalse(os.path.exists(script_dir), "the bash script's temp dir is removed")
        with open(pidfile) as fh:
            self.assertTrue(process_gone(int(fh.read())), "the background child was killed too")

    def test_stdin_is_an_open_pipe_so_a_reader_waits_for_the_timeout(self) -> None:
        self.assertEqual(str(self.error_of(command="cat", timeout=1)), "killed command 'cat '")

    def test_fast_command_is_not_killed(self) -> None:
        self.assertEqual(self.run_(command="echo", args=["ok"], timeout=5)["stdout"], "ok\n")

    # ------------------------------------------------------------ max_output

    def test_max_output_truncates_like_cocalc(self) -> None:
        out = self.run_(command="printf 'x%.0s' $(seq 1 100)", bash=True, max_output=10)
        self.assertEqual(out["stdout"], "xxxxxxxxxx (truncated at 10 characters)")
        self.assertEqual(out["stderr"], "")

    def test_max_output_applies_to_stderr_and_leaves_short_output_alone(self) -> None:
        out = self.run_(command="echo hi; printf 'y%.0s' $(seq 1 50) >&2", bash=True, max_output=20)
        self.assertEqual(out["stdout"], "hi\n")
        self.assertEqual(out["stderr"], "y" * 20 + " (truncated at 20 characters)")

    # ------------------------------------------------------- where and with what

    def test_default_directory_is_home(self) -> None:
        self.assertEqual(self.run_(command="pwd")["stdout"].strip(), os.path.realpath(self.home))

    def test_path_is_relative_to_home(self) -> None:
        os.mkdir(os.path.join(self.home, "sub"))
        out = self.run_(command="echo hi > f.txt && cat f.txt && pwd -P", bash=True, path="sub")
        self.assertEqual(out["stdout"], "hi\n%s\n" % os.path.realpath(os.path.join(self.home, "sub")))
        self.assertTrue(os.path.isfile(os.path.join(self.home, "sub", "f.txt")))

    def test_cwd_is_absolute_and_wins_over_path(self) -> None:
        other = tempfile.TemporaryDirectory(prefix="standin-cwd-")
        self.addCleanup(other.cleanup)
        os.mkdir(os.path.join(self.home, "sub"))
        out = self.run_(command="pwd", args=["-P"], path="sub", cwd=other.name)
        self.assertEqual(out["stdout"].strip(), os.path.realpath(other.name))

    def test_missing_directory_is_reported_like_a_spawn_failure(self) -> None:
        text = str(self.error_of(command="pwd", path="no-such-dir"))
        self.assertTrue(text.startswith("command ''pwd' (args=)' exited with nonzero code 1 -- stderr='{\"errno\":-2,"))

    def test_env_is_merged_over_the_project_environment(self) -> None:
        out = self.run_(command="echo $FOO $BASEVAR $HOME $N", bash=True, env={"FOO": "bar", "N": 5})
        self.assertEqual(out["stdout"], "bar base %s 5\n" % self.home)

    def test_bash_timeout_sets_a_cpu_limit(self) -> None:
        self.assertEqual(self.run_(command="ulimit -t", bash=True, timeout=7)["stdout"], "7\n")


class AsyncJobsTest(unittest.TestCase):
    """The job store on its own: CoCalc's limits of 100 jobs kept an hour after their last use."""

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory(prefix="standin-jobs-")
        self.addCleanup(tmp.cleanup)
        self.home = tmp.name
        self.env = {"HOME": self.home, "PATH": os.environ["PATH"]}

    def test_the_least_recently_used_job_goes_first(self) -> None:
        jobs = AsyncJobs(max_jobs=2)
        first, second = (jobs.start(self.home, {"command": "true", "async_call": True}, self.env) for _ in range(2))
        jobs.get(first["job_id"], wait=True)  # now the most recently used
        third = jobs.start(self.home, {"command": "true", "async_call": True}, self.env)
        for kept in (first, third):
            self.assertEqual(jobs.get(kept["job_id"], wait=True)["status"], "completed")
        with self.assertRaises(ExecError) as cm:
            jobs.get(second["job_id"])
        self.assertEqual(str(cm.exception), "Error: Async operation '%s' does not exist." % second["job_id"])

    def test_jobs_expire_after_their_last_use(self) -> None:
        jobs = AsyncJobs(ttl_s=0.3)
        job = jobs.start(self.home, {"command": "true", "async_call": True}, self.env)
        jobs.get(job["job_id"], wait=True)
        time.sleep(0.5)
        with self.assertRaises(ExecError):
            jobs.get(job["job_id"])

    def test_shutdown_kills_running_jobs(self) -> None:
        jobs = AsyncJobs()
        job = jobs.start(self.home, {"command": "sleep", "args": ["60"], "async_call": True}, self.env)
        jobs.shutdown()
        self.assertTrue(process_gone(job["pid"]))
        self.assertEqual(jobs.get(job["job_id"], wait=True)["status"], "completed", "a job killed by a signal 'completes'")


class AsyncExecOverHttpTest(unittest.TestCase):
    """``async_call``/``async_get`` through the stand-in's HTTP bridge, as measured on CoCalc."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.env = start_standin()
        cls.hub = Hub(cls.env.admin_key, cls.env.environ["COCALC_HOST"])
        cls.project_id = cls.hub.projects.create_project(title="async-jobs")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.hub.close()
        cls.env.close()

    def setUp(self) -> None:
        self.project = self.hub.project(self.project_id)
        self.addCleanup(self.project.close)

    def start(self, command: str, **opts: Any) -> Dict[str, Any]:
        job = self.project.system.exec(command, async_call=True, **opts)
        self.assertEqual({k: job[k] for k in ("type", "stdout", "stderr", "exit_code", "status")},
                         {"type": "async", "stdout": "", "stderr": "", "exit_code": 0, "status": "running"})
        return job

    def finished(self, job: Dict[str, Any], **opts: Any) -> Dict[str, Any]:
        return self.project.system.exec(async_get=job["job_id"], async_await=True, timeout=60, **opts)

    def outcome(self, done: Dict[str, Any]) -> tuple:
        return done["status"], done["stdout"], done["stderr"], done["exit_code"]

    def test_a_job_from_start_to_end(self) -> None:
        job = self.start("sleep 1.5; echo out; echo err >&2", bash=True)
        self.assertEqual(list(job), ["type", "stdout", "stderr", "exit_code", "start", "job_id", "status", "pid"])
        self.assertEqual(self.project.system.exec(async_get=job["job_id"])["status"], "running")
        done = self.finished(job)
        self.assertEqual(self.outcome(done), ("completed", "out\n", "err\n", 0))
        self.assertEqual(list(done), ["type", "stdout", "stderr", "exit_code", "start", "job_id", "status", "pid",
                                      "elapsed_s"], "no stats unless asked for")
        self.assertGreaterEqual(done["elapsed_s"], 1.5)
        stats = self.project.system.exec(async_get=job["job_id"], async_stats=True)["stats"]
        self.assertGreaterEqual(len(stats), 1)
        self.assertEqual(set(stats[0]), {"timestamp", "mem_rss", "cpu_pct", "cpu_secs"})
        self.assertGreater(stats[0]["mem_rss"], 0)
        self.assertGreaterEqual(stats[0]["timestamp"] - job["start"], 1000)

    def test_how_cocalc_reports_failures(self) -> None:
        cases = [
            ("exit 5", {"bash": True}, ("error", "", "No result", 1)),
            ("echo o; echo e >&2; exit 5", {"bash": True}, ("error", "", "e\n", 1)),
            ("echo o; echo e >&2; exit 5", {"bash": True, "err_on_exit": False}, ("completed", "o\n", "e\n", 5)),
            ("sleep", {"args": ["30"], "timeout": 1}, ("error", "", "killed command 'sleep 30'", 1)),
            ("sleep 30", {"timeout": 1}, ("error", "", "killed command 'bash %s'", 1)),
            ("kill -TERM $$", {"bash": True}, ("completed", "", "", 0)),
        ]
        for command, opts, expected in cases:
            with self.subTest(command=command, opts=opts):
                outcome = self.outcome(self.finished(self.start(command, **opts)))
                if "%s" in expected[2]:  # the name of the temporary bash script
                    script = outcome[2][len("killed command 'bash "):-1]
                    self.assertRegex(script, r"^/.+/cocalc-[^/]+/a\.sh$")
                    expected = expected[:2] + (expected[2] % script,) + expected[3:]
                self.assertEqual(outcome, expected)

    def test_a_command_that_cannot_start(self) -> None:
        job = self.start("no-such-command-q")
        self.assertNotIn("pid", job)
        done = self.finished(job)
        spawn_json = ('{"errno":-2,"code":"ENOENT","syscall":"spawn no-such-command-q","path":"no-such-command-q",'
                      '"spawnargs":[]}')
        self.assertEqual(self.outcome(done), ("error", "", spawn_json, 1))
        done = self.finished(self.start("no-such-command-q", err_on_exit=False))
        self.assertEqual(done["stderr"], "command ''no-such-command-q' (args=)' was not able to run -- stderr='%s'" % spawn_json)

    def test_output_is_capped_at_one_mebibyte(self) -> None:
        done = self.finished(self.start("head -c 1100000 /dev/zero | tr '\\0' a", bash=True))
        self.assertEqual(done["stdout"], "a" * 1048576 + " (truncated at 1048576 characters)")

    def test_output_so_far_is_visible_while_running(self) -> None:
        job = self.start("echo early; sleep 2; echo late", bash=True)
        deadline = time.monotonic() + 10
        while self.project.system.exec(async_get=job["job_id"])["stdout"] != "early\n":
            self.assertLess(time.monotonic(), deadline, "the output so far never showed")
            time.sleep(0.05)
        self.assertEqual(self.finished(job)["stdout"], "early\nlate\n")

    def test_get_errors(self) -> None:
        job_id = str(uuid.uuid4())
        with self.assertRaises(CoCalcAPIError) as cm:
            self.project.system.exec(async_get=job_id)
        self.assertEqual(cm.exception.message, f"Error: Async operation '{job_id}' does not exist.")
        with self.assertRaises(CoCalcAPIError) as cm:
            self.project.call("system.exec", [{"async_get": 5}])
        self.assertEqual(cm.exception.message, "TypeError: Cannot read properties of undefined (reading 'split')")

    def test_stopping_the_project_ends_its_jobs(self) -> None:
        project_id = self.hub.projects.create_project(title="async-stop")
        project = self.hub.project(project_id)
        self.addCleanup(project.close)
        job = project.system.exec("sleep", args=["600"], async_call=True)
        self.hub.projects.stop(project_id)
        self.assertTrue(process_gone(job["pid"]))


if __name__ == "__main__":
    unittest.main()
