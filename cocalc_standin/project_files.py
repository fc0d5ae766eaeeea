"""The project's file calls: listing, write/read text, rename, move, delete, realpath, canonical paths.

As in CoCalc's project (``project/conat/api/system.ts`` and what it calls in
``backend/files``, ``backend/get-listing.ts``, ``project/browser-websocket``):

* paths are relative to the project's home (its process runs there); absolute
  paths are taken as they are;
* ``listing`` gives ``{name, mtime, size}`` per entry in directory order, ``isdir``
  only when true (``size`` is then the number of entries, dotfiles counted only
  with ``hidden``), ``issymlink`` and ``link_target`` for symlinks;
* renaming, moving and deleting also carry a file's hidden companions
  (``.name.sage-chat``, ``.name.time-travel``, ...); a move or rename never
  replaces an existing target (``dest already exists.``), and deleting a
  missing path is no error;
* ``writeTextFileToProject`` creates missing folders with mode 0700;
* errors are Node's, with the path as the failing call saw it.
"""
import os
import shutil
import stat
from typing import Any, Callable, Dict, List, Tuple

from . import node
from .api_common import JsError, js_str, type_error

#: Hidden companions a file's deletion removes too (``util/delete-files.ts``).
DELETED_VARIATIONS = ("sage-chat", "sage-jupyter", "sage-jupyter2", "time-travel", "sage-history", "syncdb")
#: Hidden companions a file's move or rename carries along.
MOVED_VARIATIONS = DELETED_VARIATIONS[:-1]
#: Mode of the folders made for a file that is written.
FOLDER_MODE = 0o700


def absolute(home: str, path: str) -> str:
    """CoCalc's ``abspath``: *path* under *home* unless it is absolute (``/./`` collapsed)."""
    if path == "":
        return home
    if path.startswith("/"):
        return path
    return node.join(home, path).replace("/./", "/")


def _in_home(home: str, path: str) -> str:
    """*path* as the project's process (working directory *home*) opens it."""
    return path if path.startswith("/") else os.path.join(home, path)


def ensure_containing_directory(home: str, path: Any) -> None:
    """Make the folder that will hold *path* (mode 0700 for each new level) unless it is usable."""
    if not isinstance(path, str):
        raise node.reading("length") if path is None else type_error("path.startsWith is not a function")
    head = node.split(absolute(home, path))["head"]
    if not head or os.access(head, os.R_OK | os.W_OK):
        return
    missing = []
    level = head
    while level and not os.path.isdir(level):
        missing.append(level)
        level = os.path.dirname(level)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:
            continue
        except OSError as exc:
            raise node.fs_error(exc, "mkdir", head) from None


def write_text_file(home: str, args: List[Any]) -> None:
    """``writeTextFileToProject({path, content})``: the folders, then the file (UTF-8)."""
    opts = node.destructure(args, "path")
    path, content = opts.get("path"), opts.get("content")
    ensure_containing_directory(home, path)
    if not isinstance(content, str):
        raise node.arg_type_error("data", "of type string or an instance of Buffer, TypedArray, or DataView", content)
    # As Node's UTF-8: a lone surrogate becomes U+FFFD.
    data = content.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
    try:
        with open(_in_home(home, path), "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise node.fs_error(exc, "open", path) from None


def read_text(home: str, path: Any) -> str:
    """Node's ``readFile(path).toString()`` for the project (invalid UTF-8 becomes U+FFFD)."""
    if not isinstance(path, str):
        raise node.arg_type_error("path", "of type string or an instance of Buffer or URL", path)
    try:
        with open(_in_home(home, path), "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        raise JsError("EISDIR: illegal operation on a directory, read") from None
    except OSError as exc:
        raise node.fs_error(exc, "open", path) from None
    return data.decode("utf-8", "replace")


def read_text_file(home: str, args: List[Any]) -> str:
    """``readTextFileFromProject({path})``: the file's text."""
    return read_text(home, node.destructure(args, "path").get("path"))


# --------------------------------------------------------------------- listing


def listing(home: str, args: List[Any]) -> List[Dict[str, Any]]:
    """``listing({path, hidden})``: the entries of the folder *path*."""
    opts = node.destructure(args, "path")
    path, hidden = opts.get("path"), node.truthy(opts.get("hidden"))
    if not isinstance(path, str):
        raise node.arg_type_error("path", "of type string", path)
    folder = node.join(home, path)
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError as exc:
        raise node.fs_error(exc, "opendir", folder) from None
    return [_entry(folder, name, hidden) for name in names if hidden or not name.startswith(".")]


def _entry(folder: str, name: str, hidden: bool) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"name": name}
    full = folder.rstrip("/") + "/" + name
    try:
        if os.path.islink(full):
            entry["issymlink"] = True
            try:
                entry["link_target"] = os.readlink(full)
            except OSError:
                pass
        try:
            info = os.stat(full)
        except OSError:
            info = os.lstat(full)
        entry["mtime"] = node.js_number(info.st_mtime_ns // 1_000_000 / 1000)
        if stat.S_ISDIR(info.st_mode):
            entry["isdir"] = True
            inside = os.listdir(full)
            entry["size"] = len(inside) if hidden else sum(1 for n in inside if not n.startswith("."))
        else:
            entry["size"] = info.st_size
    except OSError as exc:
        entry["error"] = str(node.fs_error(exc, "scandir", full))
    return entry


# -------------------------------------------------------- delete, move, rename


def _companions(path: str, extensions: Tuple[str, ...]) -> List[str]:
    parts = node.split(path)
    head = parts["head"] + "/" if parts["head"] else ""
    return [f"{head}.{parts['tail']}.{ext}" for ext in extensions]


def _remove(path: str) -> None:
    """``rimraf``: remove a file, link or tree; a missing path is fine."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise node.fs_error(exc, "rm", path) from None


def delete_files(home: str, args: List[Any]) -> None:
    """``deleteFiles({paths})``: each path and its hidden companions, gone."""
    paths = node.destructure(args, "paths").get("paths")
    if paths is None:
        raise node.reading("map")
    if not isinstance(paths, list):
        raise type_error("paths.map is not a function")
    targets = [_absolute_path(home, p) for p in paths]
    for target in targets + [c for t in targets for c in _companions(t, DELETED_VARIATIONS)]:
        _remove(target)


def _absolute_path(home: str, path: Any, name: str = "x") -> str:
    """*path* joined to *home* unless absolute; *name* is what CoCalc's code calls it (for its TypeError)."""
    if not isinstance(path, str):
        raise node.reading("startsWith") if path is None else type_error(f"{name}.startsWith is not a function")
    return path if path.startswith("/") else node.join(home, path)


def move(src: str, dest: str) -> None:
    """fs-extra's ``move`` without overwrite: the target's folder is made; an existing target is refused."""
    try:
        info = os.lstat(src)
    except OSError as exc:
        raise node.fs_error(exc, "lstat", src) from None
    try:
        if os.path.samestat(info, os.lstat(dest)):
            raise JsError("Source and destination must not be the same.")
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise node.fs_error(exc, "lstat", dest) from None
    if stat.S_ISDIR(info.st_mode) and (dest + "/").startswith(src.rstrip("/") + "/"):
        raise JsError(f"Cannot move '{src}' to a subdirectory of itself, '{dest}'.")
    parent = os.path.dirname(dest)
    if parent and parent != "/":
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise node.fs_error(exc, "mkdir", parent) from None
    if os.path.lexists(dest):
        raise JsError("dest already exists.")
    try:
        os.rename(src, dest)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: copy, then remove
            raise node.fs_error(exc, "rename", src, dest) from None
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dest, symlinks=True)
        else:
            shutil.copy2(src, dest, follow_symlinks=False)
        _remove(src)


def _with_companions(src: str, dest: str) -> List[Tuple[str, str]]:
    """*src* → *dest*, plus each existing companion of a non-folder *src* to *dest*'s."""
    moves = [(src, dest)]
    try:
        if stat.S_ISDIR(os.stat(src).st_mode):
            return moves
    except OSError:
        return moves
    for companion, target in zip(_companions(src, MOVED_VARIATIONS), _companions(dest, MOVED_VARIATIONS)):
        if os.path.exists(companion):
            moves.append((companion, target))
    return moves


def move_files(home: str, args: List[Any]) -> None:
    """``moveFiles({paths, dest})``: each path (and its companions) into the folder *dest*."""
    opts = node.destructure(args, "paths")
    paths, dest = opts.get("paths"), opts.get("dest")
    if dest == "":
        dest = home
    elif not isinstance(dest, str):
        raise node.reading("startsWith")
    elif not dest.startswith("/"):
        dest = node.join(home, dest)
    if not dest.endswith("/"):
        dest += "/"
    if not isinstance(paths, list):
        raise type_error("paths is not iterable")
    moves: List[Tuple[str, str]] = []
    for path in paths:
        source = _absolute_path(home, path, "path")
        moves += _with_companions(source, dest + node.split(source)["tail"])
    _run_moves(moves)


def rename_file(home: str, args: List[Any]) -> None:
    """``renameFile({src, dest})``: *src* (and its companions) becomes *dest*; the same name is a no-op."""
    opts = node.destructure(args, "src")
    src, dest = opts.get("src"), opts.get("dest")
    if src == dest:
        return
    _run_moves(_with_companions(_absolute_path(home, src, "src"), _absolute_path(home, dest, "dest")))


def _run_moves(moves: List[Tuple[str, str]]) -> None:
    for src, dest in moves:
        move(src, dest)


# ------------------------------------------------------------ realpath, canonical


def realpath(home: str, args: List[Any]) -> str:
    """``realpath(path)``: where a symlink in the home folder leads, relative to home.

    A path that is no symlink, or leads out of home, comes back unchanged.
    """
    path = args[0] if args else None
    full = home + "/" + js_str(path)
    resolved = _real(full)
    if resolved == full or not resolved.startswith(home + "/"):
        return path
    return resolved[len(home) + 1:]


def _real(path: str) -> str:
    """``fs.realpath``: the resolved path; a missing one is Node's ENOENT."""
    try:
        os.stat(path)
    except OSError as exc:
        raise node.fs_error(exc, "realpath", path) from None
    return os.path.realpath(path)


def canonical_paths(home: str, args: List[Any]) -> List[str]:
    """``canonicalPaths(paths)``: resolved paths relative to home; others under ``~/.smc/root``."""
    paths = args[0] if args else None
    if isinstance(paths, str):
        paths = list(paths)
    if not isinstance(paths, list):
        raise type_error("paths is not iterable")
    real_home = os.path.realpath(home)
    answer = []
    for index, path in enumerate(paths):
        if not isinstance(path, str):
            raise node.arg_type_error(f"paths[{index}]", "of type string", path)
        resolved = _real(node.resolve(home, path))
        answer.append(resolved[len(real_home) + 1:] if resolved.startswith(real_home) else real_home + "/.smc/root" + resolved)
    return answer


#: The file calls, by their names in CoCalc's ``system`` group.
FUNCTIONS: Dict[str, Callable[[str, List[Any]], Any]] = {
    "listing": listing,
    "deleteFiles": delete_files,
    "moveFiles": move_files,
    "renameFile": rename_file,
    "realpath": realpath,
    "canonicalPaths": canonical_paths,
    "writeTextFileToProject": write_text_file,
    "readTextFileFromProject": read_text_file,
}
