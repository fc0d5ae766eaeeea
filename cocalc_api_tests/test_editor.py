"""The project's editor calls (new files, notebooks, kernels, formatting, terminals) and ``sync.close``.

Calls that need a tool in the project (``jupyter nbconvert``, ``smc-sagews2pdf``)
ask the project whether it has the tool and skip, saying so, when it does not;
an ``exec`` that does not demonstrably run the question fails instead.  The
notebook run needs the kernel the Jupyter set-up registered (it is not skipped
for a kernel missing from the list).
"""
import base64
import copy
import hashlib
import itertools
import json
import shlex
import uuid
from typing import Any, Dict, List, Sequence, Tuple

from .errors import StillTransient
from .poll import retry_transient
from .support import JUPYTER_BUDGET, KERNEL, JupyterMixin, ProjectTestCase, background_project, prepare, skip_on_ci

#: A notebook with an output, an execution count and a markdown cell with an attachment.
NOTEBOOK: Dict[str, Any] = {
    "cells": [
        {
            "cell_type": "code", "execution_count": 1, "metadata": {}, "source": ["1+1"],
            "outputs": [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                         "data": {"text/plain": ["2"]}}],
        },
        {"cell_type": "markdown", "metadata": {}, "source": ["# title"],
         "attachments": {"a.png": {"image/png": "iVBORw0KGgo="}}},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}
#: Prettier's JSON output, measured on CoCalc: what fits stays on a line, a first key on a new line breaks
#: the object, numbers fill their lines.
FORMATTED = {
    '{"b":1,"a":[1,2,{"c":"\u00fc"}]}': '{ "b": 1, "a": [1, 2, { "c": "\u00fc" }] }\n',
    '{\n"a":1.50,"b":[]}': '{\n  "a": 1.5,\n  "b": []\n}\n',
    "[" + ",".join(str(n) for n in range(1, 37)) + "]": (
        "[\n  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,\n"
        "  23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36\n]\n"
    ),
}
#: Prettier's answer to JSON cut short (babel's message and code frame).
INVALID_JSON = ('{"b":1,', 'SyntaxError: Unexpected token (1:8)\n> 1 | {"b":1,\n    |        ^')
#: The background job of the project a kernel spec is written to (its own, so that no other test lists the spec).
SPEC_PROJECT_JOB = "test_editor kernel specs"
#: Where Jupyter (and CoCalc's project) looks for the kernel specs of the project's user.
USER_KERNELS = ".local/share/jupyter/kernels"


def setUpModule() -> None:
    session = prepare(jupyter=False)
    background_project(session, SPEC_PROJECT_JOB, start=True)


def stripped(notebook: Dict[str, Any]) -> Dict[str, Any]:
    """*notebook* as ``jupyterStripNotebook`` leaves it: outputs emptied, attachments gone."""
    result = copy.deepcopy(notebook)
    for cell in result["cells"]:
        if "outputs" in cell:
            cell["outputs"] = []
        cell.pop("attachments", None)
    return result


class EditorTestCase(ProjectTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.folder = self.new_folder_name("editor")

    def write(self, name: str, content: str) -> str:
        return self.write_file(f"{self.folder}/{name}", content)

    def skip_unless_has(self, programs: Sequence[str], tool: str) -> None:
        """Skip this test unless every one of *programs* is on the project's PATH (the project has *tool*).

        One script first prints a fresh nonce, then ``command -v`` of each program, stopping
        (exit 1) at the first one missing.  Only an answer that shows the script ran (the
        nonce, exit 0 with a path per program or exit 1) decides; any other answer fails the
        test, so a broken ``exec`` cannot turn the test into a skip.
        """
        nonce = uuid.uuid4().hex
        script = f"echo {nonce}; for p in {' '.join(map(shlex.quote, programs))}; do command -v \"$p\" || exit 1; done"
        result = self.call(self.project.system.exec, script, bash=True, err_on_exit=False, timeout=60)
        lines = str(result.get("stdout", "")).splitlines() if isinstance(result, dict) else []
        found = lines[1:]
        exit_code = result.get("exit_code") if isinstance(result, dict) else None
        ran = lines[:1] == [nonce] and all(path.startswith("/") for path in found) and (
            (exit_code == 0 and len(found) == len(programs)) or (exit_code == 1 and len(found) < len(programs))
        )
        self.assertTrue(ran, f"system.exec({script!r}) answered {result!r}, which does not show the script ran")
        if exit_code == 1:
            self.skipTest(f"the project has no {tool} (`command -v {programs[len(found)]}` finds nothing)")


class TestNewFile(EditorTestCase):
    def test_new_file_is_empty_and_its_folders_are_made(self) -> None:
        path = f"{self.folder}/t/new.md"
        self.assertIsNone(self.call(self.project.editor.new_file, path))
        self.assertEqual({n: e["size"] for n, e in self.listing_by_name(f"{self.folder}/t").items()}, {"new.md": 0})

    def test_an_existing_file_is_left_alone(self) -> None:
        path = self.write("kept.md", "keep me")
        self.assertIsNone(self.call(self.project.editor.new_file, path))
        self.assertEqual(self.read_file(path), "keep me")

    def test_an_empty_path_does_nothing(self) -> None:
        """An empty (or null) path is ignored before CoCalc looks at it; a path that is no string is looked at, and refused."""
        self.assertIsNone(self.call(self.project.editor.new_file, ""))
        self.assertIsNone(self.call(self.project.editor.new_file, None))
        self.assertCallFails(self.project.editor.new_file, 5, contains="TypeError: path.startsWith is not a function")


class TestStripNotebook(EditorTestCase):
    def test_outputs_and_attachments_are_stripped(self) -> None:
        text = json.dumps(NOTEBOOK)
        path = self.write("nb.ipynb", text)
        answer = self.call(self.project.editor.jupyter_strip_notebook, path)
        self.assertIsInstance(answer, str)
        self.assertEqual(json.loads(answer), stripped(NOTEBOOK))
        self.assertEqual(answer, json.dumps(stripped(NOTEBOOK), separators=(",", ":")), "JSON.stringify's compact text")
        self.assertEqual(self.read_file(path), text, "the file changed")

    def test_missing_notebook_is_enoent(self) -> None:
        path = f"{self.folder}/missing.ipynb"
        error = self.assertCallFails(self.project.editor.jupyter_strip_notebook, path, contains="ENOENT")
        self.assertEqual(error.message, f"Error: ENOENT: no such file or directory, open '{path}'")


class TestKernels(EditorTestCase):
    def kernels(self) -> List[Dict[str, Any]]:
        kernels = self.call(self.project.editor.jupyter_kernels)
        self.assertIsInstance(kernels, list, f"editor.jupyterKernels answered {kernels!r}")
        return kernels

    def test_kernels_are_the_hubs_kernels(self) -> None:
        kernels = self.kernels()
        names = [k.get("name") for k in kernels]
        self.assertIn(KERNEL, names)
        hub_names = [k.get("name") for k in self.call(self.hub.jupyter.kernels, project_id=self.project_id)]
        self.assertEqual(sorted(names), sorted(hub_names), "the project and the hub list different kernels")
        displays = [k.get("display_name") for k in kernels]
        self.assertEqual(displays, sorted(displays), "kernels are sorted by display name")
        for kernel in kernels:
            with self.subTest(kernel=kernel.get("name")):
                self.assertIsInstance(kernel.get("argv"), list)
                self.assertIsInstance(kernel.get("language"), str)
                self.exec_ok("test", args=["-d", kernel["resource_dir"]])

    def test_logo_is_the_best_logo_file_of_the_kernel(self) -> None:
        folder = next(k for k in self.kernels() if k["name"] == KERNEL)["resource_dir"]
        logos = sorted((n for n in self.exec_ok("ls", args=["-A", folder])["stdout"].split() if n.startswith("logo-")),
                       reverse=True)
        logo = self.call(self.project.editor.jupyter_kernel_logo, KERNEL)
        if not logos:
            self.assertEqual(logo, {"base64": ""}, "a kernel without logo files")
            return
        self.assertEqual(logo.get("filename"), logos[0], "the SVG, else the largest PNG, is the best logo")
        data = base64.b64decode(logo["base64"], validate=True)
        disk = self.exec_ok("sha256sum", args=[f"{folder}/{logos[0]}"])["stdout"].split()[0]
        self.assertEqual(hashlib.sha256(data).hexdigest(), disk, "the base64 is not the logo file's content")

    def test_no_cache_reads_a_spec_written_after_a_listing(self) -> None:
        """The project keeps its kernel specs a while (CoCalc: 15 s); ``noCache`` reads them afresh.

        A spec written just after a listing (in a project of the test's own) is listed with ``noCache``.
        """
        made = self.prepared(SPEC_PROJECT_JOB, lambda: background_project(self.session, SPEC_PROJECT_JOB, start=True))
        project = self.hub.project(made["project_id"])
        self.addCleanup(project.close)
        name = f"api-tests-{uuid.uuid4().hex[:8]}"
        self.assertNotIn(name, [k.get("name") for k in self.call(project.editor.jupyter_kernels)])
        spec = {"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": name,
                "language": "python"}
        self.call(project.system.write_text_file_to_project, f"{USER_KERNELS}/{name}/kernel.json", json.dumps(spec))
        fresh = {k.get("name"): k for k in self.call(project.editor.jupyter_kernels, no_cache=True)}
        self.assertIn(name, fresh, f"editor.jupyterKernels(noCache) does not list the spec just written: {sorted(fresh)}")
        self.assertEqual((fresh[name].get("display_name"), fresh[name].get("language")), (name, "python"))

    def test_logo_of_an_unknown_kernel_is_an_error(self) -> None:
        error = self.assertCallFails(self.project.editor.jupyter_kernel_logo, "no-such-kernel", contains="no such kernel")
        self.assertEqual(error.message, "Error: no such kernel 'no-such-kernel'")


class TestFormatter(EditorTestCase):
    def test_json_is_formatted_as_prettier_does(self) -> None:
        for text, formatted in FORMATTED.items():
            with self.subTest(text=text):
                self.assertEqual(self.call(self.project.editor.formatter_string, text, {"parser": "json"}), formatted)

    def test_invalid_json_is_a_syntax_error_with_a_code_frame(self) -> None:
        text, message = INVALID_JSON
        error = self.assertCallFails(self.project.editor.formatter_string, text, {"parser": "json"}, contains="SyntaxError")
        self.assertEqual(error.message, message)


class TestTerminal(EditorTestCase):
    def shells(self, name: str) -> List[Dict[str, str]]:
        """The shells (session leaders; not what they run) whose ``COCALC_TERMINAL_FILENAME`` is *name*:
        pid, working folder, HISTFILE."""
        script = (
            "for e in /proc/[0-9]*/environ; do d=${e%/environ}; p=${d#/proc/}; "
            f"if tr '\\0' '\\n' < $e 2>/dev/null | grep -qxF 'COCALC_TERMINAL_FILENAME={name}' "
            "&& [ \"$(ps -o sid= -p $p | tr -d ' ')\" = \"$p\" ]; then "
            "printf '%s\\t%s\\t%s\\n' $p \"$(readlink $d/cwd)\" "
            "\"$(tr '\\0' '\\n' < $e | sed -n 's/^HISTFILE=//p')\"; fi; done"
        )
        lines = self.exec_ok(script, bash=True)["stdout"].splitlines()
        return [dict(zip(("pid", "cwd", "histfile"), line.split("\t"))) for line in lines]

    def test_terminal_service_starts_one_shell_in_the_terminals_folder(self) -> None:
        name = f".{self.unique_name('term')}.term"
        term_path, path = f"{self.folder}/sub/{name}", f"{self.folder}/sub/t.term"
        # A timeout is a terminal still being made: its shell is waited for, and the call never made twice at once.
        answer = self.change(self.project.editor.create_terminal_service, term_path, {"path": path},
                             read=lambda: self.shells(name), accept=bool)
        self.assertAnswered(answer, None, "editor.createTerminalService")
        found = self.poll_call(lambda: self.shells(name), accept=bool, what=f"a shell of terminal {term_path}")
        pid = int(found[0]["pid"])
        self.addCleanup(self.wait_process_gone, pid, "the terminal's shell")
        self.addCleanup(self.call, self.project.system.signal, 9, pid=pid)
        self.assertEqual(len(found), 1, f"one shell per terminal: {found}")
        self.assertEqual(found[0]["cwd"], f"{self.project_home(physical=True)}/{self.folder}/sub")
        self.assertEqual(found[0]["histfile"], f"{self.project_home()}/{path}", "a .term path keeps its own history")
        again = self.change(self.project.editor.create_terminal_service, term_path, {"path": path},
                            read=lambda: self.shells(name), accept=bool)
        self.assertAnswered(again, None, "editor.createTerminalService, again")
        self.assertEqual([s["pid"] for s in self.shells(name)], [str(pid)], "the same options keep the same shell")


class TestTools(EditorTestCase):
    def test_nbconvert_writes_a_script(self) -> None:
        self.skip_unless_has(("jupyter", "jupyter-nbconvert"), "nbconvert")
        path = self.write("nb.ipynb", json.dumps(NOTEBOOK))
        self.assertIsNone(self.call(self.project.editor.jupyter_nbconvert, ["--to", "script", path], timeout=120))
        script = self.read_file(f"{self.folder}/nb.py")
        self.assertIn("1+1", script)

    def test_print_sage_worksheet(self) -> None:
        self.skip_unless_has(("smc-sagews2pdf",), "smc-sagews2pdf (Sage worksheet printing)")
        path = self.write("w.sagews", "")
        options = {"title": "t", "author": "a", "date": "d", "contents": "false", "subdir": "false"}
        pdf = self.call(self.project.editor.print_sage_ws, path, options)
        self.assertEqual(pdf, f"{self.folder}/w.pdf")
        self.assertGreater(self.listing_by_name(self.folder)["w.pdf"]["size"], 0)


class TestRunNotebook(JupyterMixin, EditorTestCase):
    @skip_on_ci
    def test_every_code_cell_runs_in_the_notebooks_folder(self) -> None:
        notebook = copy.deepcopy(NOTEBOOK)
        notebook["cells"] = [
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": ["import os\n", "print('hi', 6*7)\n", "os.getcwd()"]},
            {"cell_type": "markdown", "metadata": {}, "source": ["# t"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": ["1/0"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": ["40 + 2"]},
        ]
        attempts = itertools.count()

        def attempt() -> Tuple[str, str]:
            # A stalled attempt never ends (nor removes its copy): each attempt runs in a folder of its own.
            run = f"{self.folder}/run{next(attempts)}"
            return run, self.project.editor.jupyter_run_notebook(run, json.dumps(notebook))

        with self.kernel(), self.session.calls.retrying():
            # The Jupyter set-up (the warm-up) registered the kernel: it must be listed, not skipped for.
            kernels = [k.get("name") for k in self.call(self.project.editor.jupyter_kernels, no_cache=True)]
            self.assertIn(
                KERNEL, kernels,
                f"editor.jupyterKernels lists {kernels} after the Jupyter set-up ({self.warm_up().get('register')!r})",
            )
            try:
                run, answer = retry_transient(attempt, budget=JUPYTER_BUDGET, what="editor.jupyterRunNotebook")
            except StillTransient as err:
                self.fail(str(err))
        cells = json.loads(answer)["cells"]
        self.assertEqual(cells[0]["outputs"], [
            {"name": "stdout", "text": "hi 42\n"},
            {"data": {"text/plain": repr(f"{self.project_home(physical=True)}/{run}")}},
        ])
        self.assertEqual(cells[1], notebook["cells"][1], "a markdown cell is left alone")
        error = cells[2]["outputs"][0]
        self.assertEqual((error.get("ename"), error.get("evalue")), ("ZeroDivisionError", "division by zero"))
        self.assertIsInstance(error.get("traceback"), list)
        self.assertEqual(cells[3]["outputs"], [{"data": {"text/plain": "42"}}], "cells after an error still run")
        self.assertEqual(self.listing_by_name(run, hidden=True), {}, "the notebook's temporary copy is removed")


class TestSync(EditorTestCase):
    def test_close_answers_null_and_leaves_the_file(self) -> None:
        path = self.write("doc.txt", "text")
        self.assertIsNone(self.call(self.project.sync.close, path))
        self.assertEqual(self.read_file(path), "text")

    def test_unknown_editor_function_is_refused(self) -> None:
        error = self.assertCallFails(self.project.call, "editor.noSuchCall", [], contains="unknown function")
        self.assertEqual(error.message, "Error: unknown function 'editor.noSuchCall'")
