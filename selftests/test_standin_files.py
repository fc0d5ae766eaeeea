"""The stand-in's project calls beyond exec: files, version, configuration, signal, editor and sync.

Through the stand-in's real HTTP server with the real client; the project's
home folder is looked at directly on disk.  What is asserted is CoCalc's
behaviour and error texts as measured on a real server (wire samples, and
``fixtures/prettier_json.json`` for the JSON formatter).
"""
import base64
import json
import os
import platform
import signal
import subprocess
import time
import unittest
import uuid
from typing import Any, Callable, List

from cocalc_api_tests.client import Hub, Project
from cocalc_standin.project_system import VERSION, X11_APPS

from helpers import error_of, needs_jupyter, start_standin
from suite_runner import FIXTURES

ENV: Any = None


def setUpModule() -> None:
    global ENV
    ENV = start_standin()


def shells_of(name: str) -> List[int]:
    """Pids of the shells (session leaders) whose environment has ``COCALC_TERMINAL_FILENAME=<name>``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if f"COCALC_TERMINAL_FILENAME={name}".encode() in fh.read().split(b"\0") and os.getsid(int(entry)) == int(entry):
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


class ProjectCase(unittest.TestCase):
    """A new project (started) and a folder name in it for each test."""

    def setUp(self) -> None:
        self.hub = Hub(ENV.admin_key, ENV.environ["COCALC_HOST"])
        self.addCleanup(self.hub.close)
        self.project_id = self.hub.projects.create_project(title=f"files-{uuid.uuid4().hex[:8]}")
        self.project: Project = self.hub.project(self.project_id)
        self.addCleanup(self.project.close)
        self.project.system.ping()
        self.home = ENV.projects.home(self.project_id)
        self.dir = "d"

    def disk(self, *parts: str) -> str:
        """A path in the project's home folder on disk."""
        return os.path.join(self.home, self.dir, *parts)

    def make(self, relative: str, content: str = "x") -> str:
        """Write a file below the test's folder straight to disk; its path relative to home."""
        full = self.disk(relative)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as fh:
            fh.write(content)
        return f"{self.dir}/{relative}"

    def tool(self, name: str, script: str) -> None:
        """An executable *name* in the project's ``~/bin`` (which is on its PATH) running *script*."""
        os.makedirs(os.path.join(self.home, "bin"), exist_ok=True)
        path = os.path.join(self.home, "bin", name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("#!/bin/bash\n" + script)
        os.chmod(path, 0o755)


class FilesTest(ProjectCase):
    def test_write_makes_private_folders_and_read_gives_the_text_back(self) -> None:
        text = "h\u00e9llo \u2603 \U0001f680\n"
        self.assertIsNone(self.project.system.write_text_file_to_project("d/a/b/f.txt", text))
        with open(self.disk("a", "b", "f.txt"), encoding="utf-8") as fh:
            self.assertEqual(fh.read(), text)
        self.assertEqual([oct(os.stat(self.disk(*p)).st_mode & 0o777) for p in (("a",), ("a", "b"))], ["0o700", "0o700"])
        self.assertEqual(self.project.system.read_text_file_from_project("d/a/b/f.txt"), text)
        with open(self.disk("bad.bin"), "wb") as fh:
            fh.write(b"ok\xff")
        self.assertEqual(self.project.system.read_text_file_from_project("d/bad.bin"), "ok\ufffd")

    def test_file_error_texts(self) -> None:
        self.make("f.txt")
        p = self.project
        cases = [
            ("Error: ENOENT: no such file or directory, open 'd/none.txt'",
             lambda: p.system.read_text_file_from_project("d/none.txt")),
            ("Error: EISDIR: illegal operation on a directory, read", lambda: p.system.read_text_file_from_project("d")),
            ("Error: ENOTDIR: not a directory, open 'd/f.txt/x'", lambda: p.system.write_text_file_to_project("d/f.txt/x", "y")),
            (f"Error: ENOENT: no such file or directory, opendir '{self.home}/d/none'", lambda: p.system.listing("d/none")),
            (f"Error: ENOENT: no such file or directory, lstat '{self.home}/d/none'",
             lambda: p.system.rename_file("d/none", "d/x")),
            (f"Error: ENOENT: no such file or directory, realpath '{self.home}/d/none'", lambda: p.system.realpath("d/none")),
            (f"Error: ENOENT: no such file or directory, realpath '{self.home}/d/none'",
             lambda: p.system.canonical_paths(["d/f.txt", "d/none"])),
            ('TypeError [ERR_INVALID_ARG_TYPE]: The "data" argument must be of type string or an instance of Buffer, '
             "TypedArray, or DataView. Received type number (5)",
             lambda: p.call("system.writeTextFileToProject", [{"path": "d/n", "content": 5}])),
            ("TypeError: Cannot destructure property 'path' of 'undefined' as it is undefined.",
             lambda: p.call("system.listing", [])),
            ('TypeError [ERR_INVALID_ARG_TYPE]: The "path" argument must be of type string. Received undefined',
             lambda: p.call("system.listing", [{}])),
            ("TypeError: Cannot read properties of undefined (reading 'map')", lambda: p.call("system.deleteFiles", [{}])),
            ("TypeError: paths is not iterable", lambda: p.call("system.canonicalPaths", [])),
        ]
        for expected, call in cases:
            with self.subTest(expected=expected):
                self.assertEqual(error_of(call), expected)

    def test_listing_entries(self) -> None:
        self.make("plain.txt", "plain\n")
        self.make(".hidden", "h")
        self.make("sub/v.txt")
        self.make("sub/.dot")
        os.symlink("plain.txt", self.disk("link"))
        os.symlink("nowhere", self.disk("broken"))
        shown = {e["name"]: e for e in self.project.system.listing("d")}
        mtime = os.stat(self.disk("plain.txt")).st_mtime_ns // 1_000_000 / 1000
        self.assertEqual(shown["plain.txt"], {"name": "plain.txt", "mtime": mtime, "size": 6})
        self.assertEqual({k: shown["sub"][k] for k in ("isdir", "size")}, {"isdir": True, "size": 1})
        self.assertEqual({k: shown["link"][k] for k in ("issymlink", "link_target", "size")},
                         {"issymlink": True, "link_target": "plain.txt", "size": 6})
        self.assertEqual(shown["broken"]["size"], len("nowhere"), "a broken link is described by lstat")
        self.assertEqual(set(shown), {"plain.txt", "sub", "link", "broken"})
        everything = {e["name"]: e for e in self.project.system.listing("d", hidden=True)}
        self.assertEqual(set(everything), {".hidden", "plain.txt", "sub", "link", "broken"})
        self.assertEqual(everything["sub"]["size"], 2)
        self.assertEqual(list(everything), os.listdir(self.disk()), "entries come in directory order")

    def test_rename_move_and_delete_carry_hidden_companions(self) -> None:
        self.make("doc.txt", "doc")
        self.make(".doc.txt.sage-chat", "chat")
        self.make(".doc.txt.syncdb", "syncdb stays: it is only deleted, never moved")
        self.project.system.rename_file("d/doc.txt", "d/new/doc2.txt")
        self.assertEqual(sorted(os.listdir(self.disk("new"))), [".doc2.txt.sage-chat", "doc2.txt"])
        self.assertEqual(sorted(os.listdir(self.disk())), [".doc.txt.syncdb", "new"])
        self.project.system.move_files(["d/new/doc2.txt"], "d/into")
        self.assertEqual(sorted(os.listdir(self.disk("into"))), [".doc2.txt.sage-chat", "doc2.txt"])
        self.make(".doc2.txt.time-travel", "not in into/: stays")
        self.make("into/.doc2.txt.syncdb", "goes")
        self.project.system.delete_files(["d/into/doc2.txt", "d/never-there"])
        self.assertEqual(os.listdir(self.disk("into")), [])
        self.assertTrue(os.path.exists(self.disk(".doc2.txt.time-travel")))

    def test_move_and_rename_never_replace(self) -> None:
        self.make("a.txt", "a")
        self.make("dest/a.txt", "old")
        self.assertEqual(error_of(lambda: self.project.system.move_files(["d/a.txt"], "d/dest")), "Error: dest already exists.")
        self.make("b.txt", "b")
        self.assertEqual(error_of(lambda: self.project.system.rename_file("d/a.txt", "d/b.txt")), "Error: dest already exists.")
        self.assertIsNone(self.project.system.rename_file("d/a.txt", "d/a.txt"), "renaming to itself is a no-op")
        self.assertEqual(
            error_of(lambda: self.project.system.move_files(["d/dest"], "d/dest/inner")),
            f"Error: Cannot move '{self.home}/d/dest' to a subdirectory of itself, '{self.home}/d/dest/inner/dest'.",
        )
        with open(self.disk("dest", "a.txt"), encoding="utf-8") as fh:
            self.assertEqual(fh.read(), "old")

    def test_realpath_and_canonical_paths(self) -> None:
        self.make("a/t.txt")
        os.symlink("a/t.txt", self.disk("lnk"))
        os.symlink("/", self.disk("out"))
        system = self.project.system
        self.assertEqual(system.realpath("d/lnk"), "d/a/t.txt")
        self.assertEqual(system.realpath("d/out"), "d/out", "a link out of home answers the link")
        self.assertEqual(system.realpath("d/a"), "d/a")
        self.assertEqual(system.realpath(""), "")
        tmp = os.path.realpath("/tmp")
        self.assertEqual(system.canonical_paths(["d/a/../lnk", "/tmp", "", "."]),
                         ["d/a/t.txt", f"{self.home}/.smc/root{tmp}", "", ""])


class SystemTest(ProjectCase):
    def test_version(self) -> None:
        self.assertEqual(self.project.system.version(), VERSION)
        self.assertGreater(VERSION, 1420070400)

    def test_configuration_is_kept_per_run_and_sees_home_bin(self) -> None:
        first = self.project.system.configuration("main")
        caps = first["capabilities"]
        self.assertEqual(caps["homeDirectory"], os.path.realpath(self.home))
        self.assertIs(caps["formatting"]["prettier"], True)
        self.assertNotIn("xml-tidy", caps["formatting"])
        self.assertEqual(self.project.system.configuration("main"), first, "kept while the project runs")
        time.sleep(0.002)
        fresh = self.project.system.configuration("main", no_cache=True)
        self.assertGreater(fresh["timestamp"], first["timestamp"])
        self.assertIsNone(self.project.system.configuration("nonsense"))
        self.assertIsNone(self.project.call("system.configuration", []))
        x11 = self.project.system.configuration("x11")["capabilities"]
        self.assertEqual(set(x11), set(X11_APPS))
        self.assertIs(x11["unknown_test"], False)

    def test_capabilities_see_a_new_program_after_the_reuse_window(self) -> None:
        from cocalc_standin import project_system

        self.project.system.configuration("main")
        self.tool("pandoc", "exit 0\n")
        window, project_system.CAPABILITIES_REUSE_S = project_system.CAPABILITIES_REUSE_S, 0.0
        self.addCleanup(setattr, project_system, "CAPABILITIES_REUSE_S", window)
        self.assertIs(self.project.system.configuration("main", no_cache=True)["capabilities"]["pandoc"], True)
        self.hub.projects.stop(self.project_id)
        project_system.CAPABILITIES_REUSE_S = window
        self.assertIs(self.project.system.configuration("main")["capabilities"]["pandoc"], True, "a new run computes anew")

    def test_signal(self) -> None:
        victim = subprocess.Popen(["sleep", "60"])
        self.addCleanup(victim.kill)
        pid_max = int(open("/proc/sys/kernel/pid_max").read())
        system = self.project.system
        self.assertIsNone(system.signal(0, pid=victim.pid))
        self.assertEqual(error_of(lambda: system.signal(15, pid=pid_max)), "Error: kill ESRCH")
        self.assertEqual(error_of(lambda: system.signal(15, pids=[victim.pid, pid_max])), "Error: kill ESRCH")
        self.assertEqual(error_of(lambda: system.signal("SIGFOO", pid=victim.pid)),
                         "TypeError [ERR_UNKNOWN_SIGNAL]: Unknown signal: SIGFOO")
        self.assertEqual(error_of(lambda: system.signal(15, pid="abc")),
                         "TypeError [ERR_INVALID_ARG_TYPE]: The \"pid\" argument must be of type number. "
                         "Received type string ('abc')")
        self.assertEqual(error_of(lambda: self.project.call("system.signal", [])),
                         "TypeError: Cannot destructure property 'signal' of 'undefined' as it is undefined.")
        self.assertIsNone(self.project.call("system.signal", [{"pid": str(victim.pid)}]), "no signal means SIGTERM")
        self.assertEqual(victim.wait(10), -signal.SIGTERM)


class EditorTest(ProjectCase):
    def test_new_file(self) -> None:
        templates = os.path.join(self.home, "templates", platform.system().lower())
        os.makedirs(templates, exist_ok=True)
        with open(os.path.join(templates, "default.tex"), "w") as fh:
            fh.write("\\documentclass{article}\n")
        editor = self.project.editor
        self.assertIsNone(editor.new_file("d/x/new.md"))
        self.assertIsNone(editor.new_file("d/x/new.tex"))
        self.assertEqual(open(self.disk("x", "new.md")).read(), "")
        self.assertEqual(open(self.disk("x", "new.tex")).read(), "\\documentclass{article}\n")
        self.make("keep.md", "keep")
        editor.new_file("d/keep.md")
        self.assertEqual(open(self.disk("keep.md")).read(), "keep")
        self.assertIsNone(self.project.call("editor.newFile", []))
        self.assertEqual(error_of(lambda: editor.new_file("d/keep.md/x")),
                         f"Error: ENOTDIR: not a directory, open '{self.home}/d/keep.md/x'")

    def test_strip_notebook_writes_json_as_javascript_does(self) -> None:
        self.make("nb.ipynb", '{"b": 1.0, "2": {"1e5": 1e5, "x": 0.000001, "y": 1.5e-7}, "1": "\\u00fc",'
                              ' "cells": [{"outputs": [1], "attachments": {}, "source": []}, 5, {"outputs": null}]}')
        self.assertEqual(
            self.project.editor.jupyter_strip_notebook("d/nb.ipynb"),
            '{"1":"\u00fc","2":{"1e5":100000,"x":0.000001,"y":1.5e-7},"b":1,'
            '"cells":[{"outputs":[],"source":[]},5,{"outputs":null}]}',
        )
        self.make("bad.ipynb", "{not json")
        self.assertEqual(error_of(lambda: self.project.editor.jupyter_strip_notebook("d/bad.ipynb")),
                         "SyntaxError: Expected property name or '}' in JSON at position 1")
        self.assertEqual(error_of(lambda: self.project.editor.jupyter_strip_notebook("d/none.ipynb")),
                         "Error: ENOENT: no such file or directory, open 'd/none.ipynb'")

    def test_formatter_matches_prettier_as_measured(self) -> None:
        with open(os.path.join(FIXTURES, "prettier_json.json"), encoding="utf-8") as fh:
            cases = json.load(fh)["cases"]
        for case in cases:
            with self.subTest(text=case["input"]):
                if "error" in case:
                    self.assertEqual(error_of(lambda: self.project.editor.formatter_string(case["input"], {"parser": "json"})),
                                     case["error"])
                else:
                    self.assertEqual(self.project.editor.formatter_string(case["input"], {"parser": "json"}), case["output"])

    def test_formatter_options_and_refusals(self) -> None:
        fmt = self.project.editor.formatter_string
        # measured on CoCalc:
        self.assertEqual(fmt('{"a":[1,2]}', {"parser": "json", "printWidth": 8, "tabWidth": 4}),
                         '{\n    "a": [\n        1,\n        2\n    ]\n}\n')
        self.assertEqual(fmt('{"a":{"b":[1,2,3]}}', {"parser": "json", "useTabs": True, "printWidth": 10}),
                         '{\n\t"a": {\n\t\t"b": [\n\t\t\t1,\n\t\t\t2, 3\n\t\t]\n\t}\n}\n')
        self.assertEqual(fmt('{"a":1}', {"parser": "json", "bracketSpacing": False}), '{"a": 1}\n')
        self.assertEqual(error_of(lambda: fmt('{"a":1}', {"parser": "json", "printWidth": "x"})),
                         'Error: Invalid printWidth value. Expected an integer, but received "x".')
        self.assertEqual(error_of(lambda: fmt("{}", {})),
                         "UndefinedParserError: No parser and no file path given, couldn't infer a parser.")
        self.assertEqual(error_of(lambda: fmt("{}", {"parser": "nope"})), 'ConfigError: Couldn\'t resolve parser "nope".')
        self.assertEqual(error_of(lambda: self.project.call("editor.formatterString", [{"options": {"parser": "json"}}])),
                         "TypeError: Cannot read properties of undefined (reading 'length')")
        self.assertEqual(error_of(lambda: self.project.call("editor.formatterString", [{"str": "{}"}])),
                         "TypeError: Cannot read properties of undefined (reading 'parser')")

    def test_nbconvert_runs_jupyter_in_the_folder(self) -> None:
        # The project's own PATH (its env setting) puts ~/bin first, before the stand-in's jupyter.
        ENV.store.query("UPDATE projects SET env=CAST(:e AS JSONB) WHERE project_id=:p::UUID",
                        e=json.dumps({"PATH": f"{self.home}/bin:/usr/bin:/bin"}), p=self.project_id)
        self.hub.projects.stop(self.project_id)
        self.tool("jupyter", 'printf "%s\\n" "$PWD" "$@" > "$HOME/jupyter-args"\n[ "$1" = nbconvert ] || exit 1\n')
        self.make("a*b.ipynb", "{}")
        self.assertIsNone(self.project.editor.jupyter_nbconvert(["--to", "script", "a*b.ipynb"], directory="d"))
        with open(os.path.join(self.home, "jupyter-args")) as fh:
            self.assertEqual(fh.read().splitlines(), [self.disk().rstrip("/"), "nbconvert", "--to", "script", "a[*]b.ipynb"])
        self.tool("jupyter", "echo 'nbconvert: broken' >&2\nexit 3\n")
        self.assertEqual(error_of(lambda: self.project.editor.jupyter_nbconvert(["x.ipynb"])), "Error: nbconvert: broken\n")
        self.assertEqual(error_of(lambda: self.project.editor.jupyter_nbconvert(["--to", "script"])), "Error: no source")
        self.assertEqual(error_of(lambda: self.project.call("editor.jupyterNbconvert", [])),
                         "TypeError: Cannot read properties of undefined (reading 'timeout')")

    def test_print_sage_worksheet_runs_the_converter(self) -> None:
        missing = error_of(lambda: self.project.editor.print_sage_ws("d/w.sagews", {"title": "t"}))
        self.assertTrue(missing.startswith("command ''smc-sagews2pdf' (args=d/w.sagews --outfile d/w.pdf --title t --author  "
                                           "--date  --subdir  --contents )' exited with nonzero code 1 -- stderr='{"),
                        missing)
        self.tool("smc-sagews2pdf", 'printf "%s\\n" "$@" > "$HOME/print-args"\n')
        options = {"title": "T", "author": "A", "date": "D", "contents": "false", "subdir": "false"}
        self.assertEqual(self.project.editor.print_sage_ws("d/w.sagews", options), "d/w.pdf")
        self.assertEqual(self.project.editor.print_sage_ws("d/w", options), "d/w.pdf")
        with open(os.path.join(self.home, "print-args")) as fh:
            self.assertEqual(fh.read().splitlines(), ["d/w", "--outfile", "d/w.pdf", "--title", "T", "--author", "A",
                                                      "--date", "D", "--subdir", "false", "--contents", "false"])

    def test_terminal_sessions(self) -> None:
        editor = self.project.editor
        name = f".t-{uuid.uuid4().hex[:8]}.term"
        self.assertIsNone(editor.create_terminal_service(f"d/sub/{name}"))
        time.sleep(0.2)
        self.assertEqual(shells_of(name), [], "without options no shell starts")
        editor.create_terminal_service(f"d/sub/{name}", {"path": "d/sub/t.term"})
        [pid] = wait_for(lambda: shells_of(name), "a shell")
        self.assertEqual(os.readlink(f"/proc/{pid}/cwd"), self.disk("sub"))
        environ = dict(v.split("=", 1) for v in open(f"/proc/{pid}/environ").read().split("\0") if "=" in v)
        self.assertEqual((environ["HISTFILE"], environ["PROMPT_COMMAND"]), (self.disk("sub", "t.term"), "history -a"))
        self.assertEqual(environ["COCALC_PROJECT_ID"], self.project_id)
        editor.create_terminal_service(f"d/sub/{name}", {"path": "d/sub/t.term"})
        self.assertEqual(shells_of(name), [pid], "the same options keep the shell")
        editor.create_terminal_service(f"d/sub/{name}", {"path": "d/sub/t.term", "env": {"FOO": "1"}})
        [new_pid] = wait_for(lambda: [p for p in shells_of(name) if p != pid], "a new shell for new options")
        wait_for(lambda: pid not in shells_of(name), "the old shell gone")
        self.assertIn(b"FOO=1", open(f"/proc/{new_pid}/environ", "rb").read().split(b"\0"))
        self.assertEqual(error_of(lambda: editor.create_terminal_service("d/other.term", {})),
                         "TypeError: Cannot read properties of undefined (reading 'startsWith')")
        self.hub.projects.stop(self.project_id)
        wait_for(lambda: not shells_of(name), "the shell gone with its project")

    @needs_jupyter
    def test_kernels_and_logo(self) -> None:
        kernels = self.project.editor.jupyter_kernels()
        self.assertEqual([k["name"] for k in kernels], [k["name"] for k in self.hub.jupyter.kernels(self.project_id)])
        kernel = kernels[0]
        logos = sorted((f for f in os.listdir(kernel["resource_dir"]) if f.startswith("logo-")), reverse=True)
        logo = self.project.editor.jupyter_kernel_logo(kernel["name"])
        if logos:
            with open(os.path.join(kernel["resource_dir"], logos[0]), "rb") as fh:
                self.assertEqual(logo, {"filename": logos[0], "base64": base64.b64encode(fh.read()).decode()})
        else:
            self.assertEqual(logo, {"base64": ""})
        self.assertEqual(error_of(lambda: self.project.editor.jupyter_kernel_logo("nope")), "Error: no such kernel 'nope'")

    @needs_jupyter
    def test_run_notebook(self) -> None:
        kernel = self.project.editor.jupyter_kernels()[0]["name"]
        cells = [
            {"cell_type": "code", "source": ["import os\n", "print(os.getcwd())"], "outputs": None},
            {"cell_type": "raw", "source": ["left alone"]},
            {"cell_type": "code", "source": ["raise ValueError('v')"]},
            {"cell_type": "code", "source": "not a list"},
            {"cell_type": "code", "source": ["6 * 7"], "outputs": [{"old": 1}]},
        ]
        notebook = {"cells": cells, "metadata": {"kernelspec": {"name": kernel}}}
        ran = json.loads(self.project.editor.jupyter_run_notebook("d/run", json.dumps(notebook)))["cells"]
        self.assertEqual(ran[0]["outputs"], [{"name": "stdout", "text": self.disk("run") + "\n"}])
        self.assertEqual(ran[1], cells[1])
        self.assertEqual(ran[2]["outputs"][0]["ename"], "ValueError")
        self.assertEqual(ran[3]["outputs"], [{"traceback": ["TypeError: cell.source.join is not a function"]}])
        self.assertEqual(ran[4]["outputs"], [{"old": 1}, {"data": {"text/plain": "42"}}])
        self.assertEqual(os.listdir(self.disk("run")), [], "the notebook's copy is removed")
        notebook["metadata"]["kernelspec"]["name"] = "no-such-kernel"
        ran = json.loads(self.project.editor.jupyter_run_notebook("d/run", json.dumps(notebook)))["cells"]
        for cell in (ran[0], ran[2]):
            self.assertTrue(cell["outputs"][-1]["traceback"][0].startswith("Error: **Unable to Spawn Jupyter Kernel:**"))
        self.assertEqual(error_of(lambda: self.project.call("editor.jupyterRunNotebook", [{}])),
                         'SyntaxError: "undefined" is not valid JSON')

    def test_sync_close_and_unknown_names(self) -> None:
        self.assertIsNone(self.project.sync.close("d/anything"))
        self.assertIsNone(self.project.call("sync.close", []))
        for name in ("editor.nope", "sync.nope", "system.nope", "nope.nope"):
            with self.subTest(name=name):
                self.assertEqual(error_of(lambda: self.project.call(name, [])), f"Error: unknown function '{name}'")


if __name__ == "__main__":
    unittest.main()
