"""The project's ``editor.*`` calls, as CoCalc's project (``project/conat/api/editor.ts``) does them.

* ``newFile(path)``: an empty file (or the home folder's
  ``templates/<platform>/default.<ext>``), folders made; an existing file is
  left alone.
* ``jupyterStripNotebook(path)``: the notebook's JSON (as ``JSON.stringify``
  writes it) with every cell's ``outputs`` emptied and ``attachments`` removed.
* ``jupyterKernels()``, ``jupyterKernelLogo(name)``: the kernel specs the
  project sees (kept 15 s) and a kernel's best logo (kept an hour): the last
  ``logo-*`` file of its folder in reverse name order, as ``{filename, base64}``.
* ``formatterString({str, options})``: prettier's output for the ``json``
  parser (:mod:`.prettier_json`); other parsers are not modelled.
* ``jupyterNbconvert({args, directory, timeout})``: ``jupyter nbconvert <args>``
  under bash in *directory*; a non-zero exit is an error with its stderr.
* ``jupyterRunNotebook({path, ipynb, limits})``: every code cell run on a new
  kernel of the notebook's kernel spec working in *path*; the notebook with
  the outputs as JSON.
* ``printSageWS({path, options})``: ``smc-sagews2pdf`` makes the PDF; its path
  (a missing option is passed as an empty argument).
* ``createTerminalService(termPath, opts)``: see :mod:`.terminals`.
"""
import base64
import copy
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, List, Tuple

from . import jsjson, node
from .api_common import JsError, PlainError, js_str, type_error
from .execute import ExecError, run_command
from .prettier_json import format_json
from .project_context import ProjectContext
from .project_files import absolute, ensure_containing_directory, read_text

#: Seconds the kernel specs and a kernel's logo are kept.
KERNEL_DATA_KEEP_S = 15.0
LOGO_KEEP_S = 3600.0
#: Seconds ``jupyterNbconvert`` and ``printSageWS`` may take unless told otherwise.
NBCONVERT_TIMEOUT_S = 60
PRINT_TIMEOUT_S = 90
#: Prettier's parsers (the stand-in models ``json``), and the formatters that are programs of their own.
PRETTIER_PARSERS = ("babel", "babel-flow", "babel-ts", "flow", "typescript", "espree", "meriyah", "acorn", "css",
                    "less", "scss", "json", "json5", "jsonc", "json-stringify", "graphql", "markdown", "mdx", "vue",
                    "yaml", "glimmer", "html", "angular", "lwc")
PROGRAM_FORMATTERS = ("latex", "latexindent", "python", "yapf", "zig", "r", "formatR", "xml-tidy", "bib-biber",
                      "clang-format", "gofmt", "rust", "rustfmt")


def new_file(ctx: ProjectContext, args: List[Any]) -> None:
    """``newFile(path)``: create the file unless it exists."""
    path = args[0] if args else None
    if not path:
        return
    if not isinstance(path, str):
        raise type_error("path.startsWith is not a function")
    full = path if path.startswith("/") else node.join(ctx.home, path)
    if os.path.exists(full):
        return
    ensure_containing_directory(ctx.home, full)
    extension = _extension(full)
    template = os.path.join(ctx.home, "templates", platform.system().lower(), "default." + extension)
    try:
        if os.path.exists(template):
            shutil.copyfile(template, full)
        else:
            with open(full, "w", encoding="utf-8"):
                pass
    except OSError as exc:
        raise node.fs_error(exc, "open", full) from None


def _extension(path: str) -> str:
    tail = node.split(path)["tail"]
    return tail.rsplit(".", 1)[1] if "." in tail else ""


def jupyter_strip_notebook(ctx: ProjectContext, args: List[Any]) -> str:
    """``jupyterStripNotebook(path)``: the notebook without outputs and attachments."""
    notebook = jsjson.parse(read_text(ctx.home, args[0] if args else None))
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if cells is not None:
        if not isinstance(cells, list):
            raise type_error("obj.cells is not iterable")
        for cell in cells:
            if cell is None:
                raise type_error("Cannot read properties of null (reading 'outputs')")
            if isinstance(cell, dict):
                if cell.get("outputs") is not None:
                    cell["outputs"] = []
                if cell.get("attachments") is not None:
                    del cell["attachments"]
    return jsjson.stringify(notebook)


# ----------------------------------------------------------------- kernels


def _kept_for(ctx: ProjectContext, key: str, seconds: float, make: Callable[[], Any], fresh: bool = False) -> Any:
    """*make()*, kept in the project's state under *key* for *seconds* (unless *fresh*)."""
    shelf = ctx.kept(key, dict)
    hit = shelf.get("value")
    if not fresh and hit is not None and time.monotonic() - hit[0] < seconds:
        return hit[1]
    value = make()
    shelf["value"] = (time.monotonic(), value)
    return value


def _kernel_specs(ctx: ProjectContext, fresh: bool = False) -> List[Dict[str, Any]]:
    from .jupyter import KernelError

    try:
        return _kept_for(ctx, "kernel data", KERNEL_DATA_KEEP_S, lambda: ctx.kernels().kernelspecs(), fresh)
    except KernelError as err:
        raise PlainError(str(err)) from None


def _no_cache(value: Any) -> bool:
    return isinstance(value, dict) and node.truthy(value.get("noCache"))


def jupyter_kernels(ctx: ProjectContext, args: List[Any]) -> List[Dict[str, Any]]:
    """``jupyterKernels({noCache})``: the kernel specs, sorted by display name."""
    return _kernel_specs(ctx, _no_cache(args[0] if args else None))


def jupyter_kernel_logo(ctx: ProjectContext, args: List[Any]) -> Dict[str, Any]:
    """``jupyterKernelLogo(name, {noCache})``: ``{filename, base64}`` of the kernel's best logo."""
    name = args[0] if args else None
    fresh = _no_cache(args[1] if len(args) > 1 else None)
    logos = ctx.kept("logos", dict)
    hit = logos.get(js_str(name))
    if not fresh and hit is not None and time.monotonic() - hit[0] < LOGO_KEEP_S:
        return hit[1]
    kernel = next((k for k in _kernel_specs(ctx, fresh) if k.get("name") == name), None)
    if kernel is None:
        raise JsError(f"no such kernel '{js_str(name)}'")
    folder = kernel.get("resource_dir")
    try:
        files = sorted((f for f in os.listdir(folder) if f.startswith("logo-")), reverse=True)
    except OSError as exc:
        raise node.fs_error(exc, "scandir", folder) from None
    logo: Dict[str, Any] = {"base64": ""}
    if files:
        try:
            with open(os.path.join(folder, files[0]), "rb") as fh:
                logo = {"filename": files[0], "base64": base64.b64encode(fh.read()).decode("ascii")}
        except OSError as exc:
            raise node.fs_error(exc, "open", os.path.join(folder, files[0])) from None
    logos[js_str(name)] = (time.monotonic(), logo)
    return logo


# -------------------------------------------------------------- formatting


def formatter_string(ctx: ProjectContext, args: List[Any]) -> str:
    """``formatterString({str, options, path})``: the formatted text."""
    opts = node.destructure(args, "options")
    options, text = opts.get("options"), opts.get("str")
    if not isinstance(options, dict):
        raise node.reading("parser")
    parser = options.get("parser")
    if parser in PROGRAM_FORMATTERS:
        raise JsError(f"the stand-in does not model the '{parser}' formatter")
    if parser is None:
        raise JsError("No parser and no file path given, couldn't infer a parser.", name="UndefinedParserError")
    if parser not in PRETTIER_PARSERS:
        raise JsError(f'Couldn\'t resolve parser "{js_str(parser)}".', name="ConfigError")
    if parser != "json":
        raise JsError(f"the stand-in does not model prettier's '{parser}' parser")
    if not isinstance(text, str):
        raise node.reading("length")
    return format_json(text, options)


# ------------------------------------------------------------------- tools


def _exec(ctx: ProjectContext, opts: Dict[str, Any]) -> Dict[str, Any]:
    """CoCalc's ``executeCode`` in the project; its text errors pass through as they are."""
    try:
        return run_command(ctx.home, opts, ctx.env)
    except ExecError as err:
        raise PlainError(str(err)) from None


def _nbconvert_parts(args: List[str]) -> Tuple[str, int]:
    """``--to``'s value and index, and the source (the first argument that is no option)."""
    to, index = "", 0
    for i, arg in enumerate(args):
        if arg == "--to":
            to, index = (args[i + 1] if i + 1 < len(args) else ""), i
            break
    return to, index


def _nbconvert_source(args: List[str]) -> str:
    i = 0
    while i < len(args):
        if args[i].startswith("--"):
            if args[i] != "--" and "=" not in args[i]:
                i += 1
            i += 1
            continue
        return args[i]
    raise JsError("no source")


def jupyter_nbconvert(ctx: ProjectContext, args: List[Any]) -> None:
    """``jupyterNbconvert({args, directory, timeout})``: run nbconvert; its stderr is the error."""
    opts = args[0] if args else None
    if not isinstance(opts, dict):
        raise node.reading("timeout")
    argv = opts.get("args")
    if not isinstance(argv, list):
        raise node.reading("length")
    argv = [js_str(a) for a in argv]
    to, index = _nbconvert_parts(argv)
    to_pdf = to in ("lab-pdf", "classic-pdf")
    _nbconvert_source(argv)
    if to_pdf:
        argv[argv.index(to)] = "html"
        if to == "classic-pdf":
            argv = ["--template", "classic"] + argv
    if to == "sagews":
        command, argv = "smc-ipynb2sagews", argv[:index] + argv[index + 3:]
    else:
        command, argv = "jupyter", ["nbconvert"] + argv
        argv[-1] = "".join("[" + c + "]" if c in "[*?]" else c for c in argv[-1])
    output = _exec(ctx, {
        "command": command, "args": argv, "path": opts.get("directory"), "err_on_exit": False,
        "timeout": opts.get("timeout") or NBCONVERT_TIMEOUT_S, "ulimit_timeout": True, "bash": True,
    })
    if output["exit_code"] != 0:
        raise JsError(output["stderr"])
    if to_pdf:
        raise JsError("the stand-in does not model the HTML to PDF conversion")


def jupyter_run_notebook(ctx: ProjectContext, args: List[Any]) -> str:
    """``jupyterRunNotebook({path, ipynb, limits})``: the notebook with every code cell's outputs."""
    opts = args[0] if args else None
    if not isinstance(opts, dict):
        raise node.reading("ipynb")
    notebook = jsjson.parse(opts.get("ipynb"))
    limits = opts.get("limits") if isinstance(opts.get("limits"), dict) else {}
    folder = opts.get("path")
    if not isinstance(folder, str):
        raise node.arg_type_error("path", "of type string", folder)
    scratch = node.join(folder, f"{uuid.uuid4()}.ipynb")
    scratch_full = absolute(ctx.home, scratch)
    try:
        os.makedirs(os.path.dirname(scratch_full), exist_ok=True)
        with open(scratch_full, "w", encoding="utf-8") as fh:
            fh.write(opts["ipynb"])
    except OSError as exc:
        raise node.fs_error(exc, "open", scratch) from None
    try:
        name = _kernel_name(notebook)
        if not isinstance(notebook.get("cells"), list):
            raise type_error("notebook.cells is not iterable")
        _NotebookRun(ctx, name, os.path.dirname(scratch_full), limits).run(notebook["cells"])
        return jsjson.stringify(notebook)
    finally:
        try:
            os.unlink(scratch_full)
        except OSError:
            pass


def _kernel_name(notebook: Any) -> Any:
    """``notebook.metadata.kernelspec.name``, failing as JavaScript does on a missing step."""
    value = notebook
    for step in ("metadata", "kernelspec", "name"):
        if not isinstance(value, dict):
            raise node.reading(step)
        value = value.get(step)
    return value


class _NotebookRun:
    """The cells of one notebook, run in order on one kernel (a new one after a cell fails)."""

    def __init__(self, ctx: ProjectContext, name: str, folder: str, limits: Dict[str, Any]):
        self.manager = ctx.kernels()
        self.name, self.folder = name, folder
        self.per_cell_s = (limits.get("max_time_per_cell_ms") or 0) / 1000
        self.total_s = (limits.get("max_total_time_ms") or 0) / 1000
        self.max_output = limits.get("max_output") or 0
        self.max_cell_output = limits.get("max_output_per_cell") or 0
        self.started = time.monotonic()
        self.total_output = 0
        self.kernel: Any = None

    def run(self, cells: List[Any]) -> None:
        try:
            for cell in cells:
                if cell is None:  # its failure's handler fails in turn
                    raise type_error("Cannot read properties of null (reading 'outputs')")
                if not isinstance(cell, dict):
                    continue
                try:
                    self.run_cell(cell)
                except Exception as err:  # a failed cell (a timeout, a dead kernel) gets the error as its traceback
                    if cell.get("outputs") is None:
                        cell["outputs"] = []
                    cell["outputs"].append({"traceback": [str(err)]})
                    self.close()
        finally:
            self.close()

    def _kernel(self) -> Any:
        from .jupyter import chdir_code

        if self.kernel is None:
            kernel = self.manager.dedicated(self.name, {"PYTHONWARNINGS": "ignore"})
            try:
                kernel.run(chdir_code(kernel.language, self.folder), 0)
            except BaseException:
                self.manager.release(kernel)
                raise
            self.kernel = kernel
        return self.kernel

    def close(self) -> None:
        if self.kernel is not None:
            self.manager.release(self.kernel)
            self.kernel = None

    def run_cell(self, cell: Dict[str, Any]) -> None:
        if self.total_s and time.monotonic() - self.started >= self.total_s:
            raise JsError(f"Total time limit (={round(self.total_s)} seconds) exceeded")
        if cell.get("cell_type") != "code":
            return
        source = cell.get("source")
        if not isinstance(source, list):
            raise type_error("cell.source.join is not a function")
        if cell.get("outputs") is None:
            cell["outputs"] = []
        outputs = self._kernel().run("".join(js_str(s) for s in source), self.per_cell_s)
        cell_chars = 0
        for output in outputs:
            size = len(json.dumps(output, separators=(",", ":"), ensure_ascii=False))
            self.total_output += size
            cell_chars += size if self.max_cell_output else 0
            if "traceback" in output:
                cell["outputs"].append(output)
            elif self.max_cell_output and cell_chars > self.max_cell_output:
                cell["outputs"].append(_truncated(f"the cell output limit of {self.max_cell_output}"))
            elif self.max_output and self.total_output > self.max_output:
                cell["outputs"].append(_truncated(f"the global output limit of {self.max_output}"))
            else:
                cell["outputs"].append(copy.deepcopy(output))


def _truncated(which: str) -> Dict[str, Any]:
    return {"name": "stdout", "output_type": "stream", "text": [f"Output truncated since it exceeded {which} characters"]}


def print_sage_ws(ctx: ProjectContext, args: List[Any]) -> str:
    """``printSageWS({path, options})``: the worksheet printed by ``smc-sagews2pdf``; the PDF's path."""
    opts = args[0] if args else None
    if not isinstance(opts, dict):
        raise node.reading("path")
    path = opts.get("path")
    if not isinstance(path, str):  # CoCalc's filename_extension splits the path first
        if path is None:
            raise type_error(f"Cannot read properties of {'null' if 'path' in opts else 'undefined'} (reading 'split')")
        raise type_error("path.split is not a function")
    extension = _extension(path)
    pdf = path[: len(path) - len(extension)] + "pdf" if extension else path + ".pdf"
    options = opts.get("options") if isinstance(opts.get("options"), dict) else {}
    argv: List[str] = [path, "--outfile", pdf]
    for option in ("title", "author", "date", "subdir", "contents"):
        argv += ["--" + option, "" if options.get(option) is None else js_str(options[option])]
    extra_file = None
    if options.get("extra_data") is not None:
        handle, extra_file = tempfile.mkstemp(suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as fh:
            fh.write(js_str(options["extra_data"]))
        argv += ["--extra_data_file", extra_file]
    try:
        _exec(ctx, {"command": "smc-sagews2pdf", "args": argv, "err_on_exit": True, "bash": False,
                    "timeout": options.get("timeout") or PRINT_TIMEOUT_S})
    finally:
        if extra_file is not None:
            os.unlink(extra_file)
    return pdf


def create_terminal_service(ctx: ProjectContext, args: List[Any]) -> None:
    """``createTerminalService(termPath, opts)``: a shell session for the terminal (with *opts*)."""
    term_path = args[0] if args else None
    if term_path is not None and not isinstance(term_path, (str, list)):  # Node's Buffer.from refuses it
        raise JsError(
            "The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an "
            f"Array-like Object. {node.received(term_path)}",
            name="TypeError [ERR_INVALID_ARG_TYPE]",
        )
    ctx.terminals().create_service(args[0] if args else None, args[1] if len(args) > 1 else None)


#: The editor calls, by their names in CoCalc's ``editor`` group.
FUNCTIONS: Dict[str, Callable[[ProjectContext, List[Any]], Any]] = {
    "newFile": new_file,
    "jupyterStripNotebook": jupyter_strip_notebook,
    "jupyterNbconvert": jupyter_nbconvert,
    "jupyterRunNotebook": jupyter_run_notebook,
    "jupyterKernelLogo": jupyter_kernel_logo,
    "jupyterKernels": jupyter_kernels,
    "formatterString": formatter_string,
    "printSageWS": print_sage_ws,
    "createTerminalService": create_terminal_service,
}
