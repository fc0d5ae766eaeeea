"""The stand-in's ``system.exec``: real processes, CoCalc's semantics and error texts."""

import os
import tempfile
import time
import unittest

from cocalc_api_tests.standin.execute import ExecError, run_command, shell_escape, truncate


def _gone(pid: int, deadline_s: float = 5.0) -> bool:
    """Whether process *pid* disappears (or becomes a zombie) before the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as fh:
                if fh.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


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
            self.assertTrue(_gone(int(fh.read())), "the background child was killed too")

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


if __name__ == "__main__":
    unittest.main()
