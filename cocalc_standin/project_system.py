"""The project's environment calls: ``version``, ``configuration`` and ``signal``.

* ``version`` is the build's version number: seconds since the epoch when it
  was built (CoCalc's ``smc-version``); here, when this module was last changed.
* ``configuration("main")`` tells which tools the project has (each looked up
  on the PATH with ``~/bin`` and ``~/.local/bin`` in front), ``"x11"`` which X11
  applications; each aspect is computed once per project run (``no_cache``
  recomputes it), any other aspect answers ``null``.
* ``signal({signal, pid, pids})`` is Node's ``process.kill`` for each pid; the
  last failure is the answer (``Error: kill ESRCH``).
"""
import datetime
import errno
import os
import re
import shutil
import signal as signals
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Union

from . import node
from .api_common import JsError, js_str, type_error
from .project_context import ProjectContext

#: The build's version (CoCalc's ``smc-version``): seconds since the epoch.
VERSION = int(os.stat(__file__).st_mtime)
#: Seconds the main capabilities are reused even with ``no_cache`` (CoCalc: 15 s).
CAPABILITIES_REUSE_S = 15.0
#: The examples library whose index makes ``library`` true.
LIBRARY_INDEX_FILE = "/ext/library/cocalc-examples/index.json"
#: Formatter tools CoCalc knows (the values of its ``syntax2tool``), then the Python ones.
FORMATTERS = ("clang-format", "prettier", "bib-biber", "css", "gofmt", "html", "babel", "json", "latex", "markdown",
              "python", "formatR", "rustfmt", "typescript", "xml-tidy", "yaml", "zig", "yapf3", "black", "autopep8")
#: What a formatter needs installed when that is not a program of its own name.
_FORMATTER_PROGRAM = {"formatR": "R", "bib-biber": "biber"}
#: X11 applications CoCalc offers, with the program each needs (``comm/x11-apps.ts``).
X11_APPS = {
    "unknown_test": "unknown_test", "drracket": "drracket", "emacs": "emacs", "gvim": "gvim", "inkscape": "inkscape",
    "gimp": "gimp", "krita": "krita", "vscode": "code", "terminal": "gnome-terminal", "firefox": "firefox",
    "gitk": "gitk", "gitg": "gitg", "idle": "idle", "okular": "okular", "libreoffice": "libreoffice",
    "lowriter": "lowriter", "localc": "localc", "loimpress": "loimpress", "nteract": "nteract",
    "wxmaxima": "wxmaxima", "rstudio": "rstudio", "octave": "octave-gui", "texmacs": "texmacs",
    "texstudio": "texstudio", "openmodelica": "OMEdit", "pspp": "psppire", "gnumeric": "gnumeric",
    "scribus": "scribus", "spyder": "spyder", "gchempaint": "gchempaint", "diffpdf": "diffpdf",
    "massif-visualizer": "massif-visualizer", "kcachegrind": "kcachegrind", "dia": "dia", "pycharm": "pycharm.sh",
    "intellij": "idea.sh", "avogadro": "avogadro", "shotwell": "shotwell", "evince": "evince", "calibre": "calibre",
    "qgis": "qgis", "grass": "grass", "ds9": "ds9", "xcas": "xcas", "gnome-system-monitor": "gnome-system-monitor",
    "gedit": "gedit", "scilab": "scilab", "cadabra2": "cadabra2-gtk", "vqe-playground": "vqe-playground",
    "kbibtex": "kbibtex", "texmaker": "texmaker", "zotero": "zotero", "jurism": "jurism", "xfractint": "xfractint",
    "sqlitebrowser": "sqlitebrowser",
}
_SAGE_VERSION = re.compile(r"version ([\d+.]+[\d+])")
_capabilities_lock = threading.Lock()


def version(ctx: ProjectContext, args: List[Any]) -> int:
    """``version()``: the build's version number."""
    return VERSION


# -------------------------------------------------------------- configuration


class _Tools:
    """``which`` on the project's PATH with ``~/bin`` and ``~/.local/bin`` in front."""

    def __init__(self, ctx: ProjectContext):
        home = ctx.env.get("HOME") or ctx.home
        self.path = os.pathsep.join([f"{home}/bin", f"{home}/.local/bin", ctx.env.get("PATH", os.defpath)])
        self.env = dict(ctx.env, PATH=self.path)

    def have(self, name: str) -> bool:
        return shutil.which(name, path=self.path) is not None


def _iso_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sage_version(tools: _Tools) -> Optional[List[int]]:
    try:
        info = subprocess.run(["sage", "--version"], env=tools.env, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = _SAGE_VERSION.search(info.strip())
    if found is None or len(found.group(1)) <= 1:
        return None
    return [int(x) if x.isdigit() else x for x in found.group(1).split(".")]


def _main_capabilities(ctx: ProjectContext) -> Dict[str, Any]:
    tools = _Tools(ctx)
    have = tools.have
    hashsums = {name: have(name) for name in ("sha1sum", "sha256sum", "md5sum")}
    formatting: Dict[str, bool] = {
        tool: have(_FORMATTER_PROGRAM.get(tool, tool)) for tool in FORMATTERS if tool != "xml-tidy"
    }
    formatting["tidy"] = have("tidy")
    formatting["prettier"] = True  # a library of the project itself
    jupyter: Union[bool, Dict[str, bool]] = False
    if have("jupyter"):
        jupyter = {"lab": have("jupyter-lab"), "notebook": have("jupyter-notebook"), "kernelspec": have("jupyter-kernelspec")}
    caps: Dict[str, Any] = {
        "jupyter": jupyter,
        "rserver": have("rserver"),
        "formatting": formatting,
        "hashsums": hashsums,
        "latex": hashsums["sha1sum"] and all(have(p) for p in ("pdflatex", "latexmk", "synctex")),
        "sage": have("sage"),
        "x11": have("xpra"),
        "rmd": have("R"),
        "qmd": have("quarto"),
        "jq": have("jq"),
        "spellcheck": have("aspell"),
        "library": os.access(LIBRARY_INDEX_FILE, os.R_OK),
        "sshd": have("/usr/sbin/sshd"),
        "html2pdf": have("chromium-browser") or have("google-chrome"),
        "pandoc": have("pandoc"),
        "vscode": have("code-server"),
        "julia": have("julia"),
        "homeDirectory": os.path.realpath(ctx.env.get("HOME") or ctx.home),
    }
    if caps["sage"]:
        sage_version = _sage_version(tools)
        if sage_version is not None:
            caps["sage_version"] = sage_version
    return caps


def _capabilities(ctx: ProjectContext) -> Dict[str, Any]:
    """The main capabilities, reused for :data:`CAPABILITIES_REUSE_S` seconds."""
    with _capabilities_lock:
        recent = ctx.kept("capabilities", dict)
        if recent and time.monotonic() - recent["at"] <= CAPABILITIES_REUSE_S:
            return recent["caps"]
        caps = _main_capabilities(ctx)
        recent.update(at=time.monotonic(), caps=caps)
        return caps


def configuration(ctx: ProjectContext, args: List[Any]) -> Optional[Dict[str, Any]]:
    """``configuration(aspect, no_cache)``: ``{timestamp, capabilities}`` of ``main`` or ``x11``."""
    aspect = args[0] if args else None
    no_cache = node.truthy(args[1]) if len(args) > 1 else False
    makers: Dict[Any, Callable[[], Dict[str, Any]]] = {
        "main": lambda: _capabilities(ctx),
        "x11": lambda: {app: _Tools(ctx).have(program) for app, program in X11_APPS.items()},
    }
    if aspect not in makers:
        return None
    cache = ctx.kept("configuration", dict)
    if aspect in cache and not no_cache:
        return cache[aspect]
    cache[aspect] = {"timestamp": _iso_now(), "capabilities": makers[aspect]()}
    return cache[aspect]


# --------------------------------------------------------------------- signal


def _loose_int(value: Any) -> Optional[int]:
    """*value* when JavaScript's ``value == (value | 0)`` holds, as that integer; else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and float(value).is_integer() and -(2**31) <= value < 2**31:
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.strip() or "0")
        except ValueError:
            return None
        return int(number) if number.is_integer() and -(2**31) <= number < 2**31 else None
    return None


def kill(pid: Any, sig: Any) -> None:
    """Node's ``process.kill(pid, sig)``: *sig* is a number or a name (default ``SIGTERM``)."""
    target = _loose_int(pid)
    if target is None:
        raise node.arg_type_error("pid", "of type number", pid)
    if isinstance(sig, int) and not isinstance(sig, bool):
        number = sig
    else:
        name = sig if node.truthy(sig) else "SIGTERM"
        found = getattr(signals, name, None) if isinstance(name, str) and name.startswith("SIG") else None
        if not isinstance(found, signals.Signals):
            raise JsError(f"Unknown signal: {js_str(name)}", name="TypeError [ERR_UNKNOWN_SIGNAL]")
        number = int(found)
    try:
        os.kill(target, number)
    except OSError as exc:
        raise JsError(f"kill {errno.errorcode.get(exc.errno or 0, 'EINVAL')}") from None
    except (OverflowError, ValueError):
        raise JsError("kill EINVAL") from None


def signal(ctx: ProjectContext, args: List[Any]) -> None:
    """``signal({signal, pid, pids})``: signal *pid*, then each of *pids*; the last failure is raised."""
    opts = node.destructure(args, "signal")
    sig, pid, pids = opts.get("signal"), opts.get("pid"), opts.get("pids")
    errors: List[JsError] = []

    def attempt(target: Any) -> None:
        try:
            kill(target, sig)
        except JsError as err:
            errors.append(err)

    if pid is not None:
        attempt(pid)
    if pids is not None:
        if not isinstance(pids, list):
            raise type_error("pids is not iterable")
        for target in pids:
            attempt(target)
    if errors:
        raise errors[-1]


#: The environment calls, by their names in CoCalc's ``system`` group.
FUNCTIONS: Dict[str, Callable[[ProjectContext, List[Any]], Any]] = {
    "version": version,
    "configuration": configuration,
    "signal": signal,
}
