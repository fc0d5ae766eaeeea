"""Files in the shared project through the project API: write and read, listing, rename, move, delete, paths.

Every file lives in this test's own folder inside the run's scratch folder.
Each call's effect is read back through another call (``listing``, ``exec``,
``readTextFileFromProject``), and the refusals carry Node's texts with the
path as CoCalc's project saw it.
"""
import time

from .support import CLOCK_SKEW, ProjectTestCase, prepare

#: Text with accents, a check mark, CJK and an emoji (four UTF-8 bytes), over two lines.
TEXT = "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001f680\nline 2\n"


def setUpModule() -> None:
    prepare(jupyter=False)


class FilesTestCase(ProjectTestCase):
    """A fresh folder per test; helpers that write files and read folders back."""

    def setUp(self) -> None:
        super().setUp()
        self.folder = self.new_folder_name("files")

    def path(self, *parts: str) -> str:
        """*parts* below this test's folder, relative to the project's home."""
        return "/".join((self.folder,) + parts)

    def write(self, relative: str, content: str) -> str:
        """Write *content* to *relative* (below the test's folder) with the API; the path."""
        return self.write_file(self.path(relative), content)

    def exists(self, path: str) -> bool:
        """Whether *path* exists, asked of the project's shell (``test -e``)."""
        return self.call(self.project.system.exec, "test", args=["-e", path], err_on_exit=False)["exit_code"] == 0


class TestWriteRead(FilesTestCase):
    def test_non_ascii_text_round_trips_into_new_folders(self) -> None:
        path = self.write("a/b/\u00fcn\u00ef-\u2603.txt", TEXT)
        self.assertEqual(self.read_file(path), TEXT, "readTextFileFromProject gives back another text")
        self.assertEqual(self.exec_ok("cat", args=[path])["stdout"], TEXT, "the file's bytes are not the text in UTF-8")
        entry = self.listing_by_name(self.path("a", "b")).get("\u00fcn\u00ef-\u2603.txt")
        self.assertIsNotNone(entry, "the written file is not listed in its folder")
        self.assertEqual(entry["size"], len(TEXT.encode("utf-8")), f"listing entry {entry!r}: size is not the byte length")
        self.assertNotIn("isdir", entry)
        modes = self.exec_ok("stat", args=["-c", "%a", self.path("a"), self.path("a", "b")])["stdout"].split()
        self.assertEqual(modes, ["700", "700"], "CoCalc makes a written file's missing folders private (mode 0700)")

    def test_writing_again_replaces_the_whole_text(self) -> None:
        path = self.write("again.txt", "a first, longer text\n")
        self.write("again.txt", "short")
        self.assertEqual(self.read_file(path), "short")
        self.assertEqual(self.listing_by_name(self.folder)["again.txt"]["size"], 5)

    def test_reading_a_missing_file_is_enoent(self) -> None:
        path = self.path("missing.txt")
        error = self.assertCallFails(self.project.system.read_text_file_from_project, path, contains="ENOENT")
        self.assertEqual(error.message, f"Error: ENOENT: no such file or directory, open '{path}'")

    def test_reading_a_folder_is_eisdir(self) -> None:
        self.write("sub/f.txt", "x")
        error = self.assertCallFails(self.project.system.read_text_file_from_project, self.path("sub"), contains="EISDIR")
        self.assertEqual(error.message, "Error: EISDIR: illegal operation on a directory, read")

    def test_writing_below_a_file_is_enotdir(self) -> None:
        self.write("plain.txt", "x")
        path = self.path("plain.txt", "inside.txt")
        error = self.assertCallFails(self.project.system.write_text_file_to_project, path, "y", contains="ENOTDIR")
        self.assertEqual(error.message, f"Error: ENOTDIR: not a directory, open '{path}'")


class TestListing(FilesTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.write("plain.txt", "plain\n")
        self.write(".hidden", "h")
        self.write("sub/visible.txt", "v")
        self.write("sub/.dot", "d")

    def test_dotfiles_only_with_hidden(self) -> None:
        shown = self.listing_by_name(self.folder)
        self.assertEqual(set(shown), {"plain.txt", "sub"})
        self.assertEqual(shown["plain.txt"]["size"], 6)
        self.assertNotIn("isdir", shown["plain.txt"], "isdir is only present when true")
        self.assertIs(shown["sub"].get("isdir"), True)
        self.assertEqual(shown["sub"]["size"], 1, "a folder's size counts its entries, dotfiles only with hidden")
        everything = self.listing_by_name(self.folder, hidden=True)
        self.assertEqual(set(everything), {".hidden", "plain.txt", "sub"})
        self.assertEqual(everything[".hidden"]["size"], 1)
        self.assertEqual(everything["sub"]["size"], 2)

    def test_mtime_is_the_modification_time_in_seconds(self) -> None:
        entry = self.listing_by_name(self.folder)["plain.txt"]
        stat_seconds = int(self.exec_ok("stat", args=["-c", "%Y", self.path("plain.txt")])["stdout"])
        self.assertIsInstance(entry["mtime"], (int, float))
        self.assertEqual(int(entry["mtime"]), stat_seconds, f"listing entry {entry!r} against stat's {stat_seconds}")
        self.assertLess(abs(entry["mtime"] - time.time()), CLOCK_SKEW, f"listing entry {entry!r} is not recent")

    def test_symlink_is_marked_with_its_target(self) -> None:
        self.exec_ok("ln", args=["-s", "plain.txt", self.path("link")])
        entry = self.listing_by_name(self.folder)["link"]
        self.assertIs(entry.get("issymlink"), True, f"listing entry {entry!r}")
        self.assertEqual(entry.get("link_target"), "plain.txt")
        self.assertEqual(entry["size"], 6, "a symlink's size is its target's")

    def test_missing_folder_and_file_are_refused_with_the_full_path(self) -> None:
        home = self.project_home()
        for name, code in (("nope", "ENOENT: no such file or directory"), ("plain.txt", "ENOTDIR: not a directory")):
            with self.subTest(path=name):
                error = self.assertCallFails(self.project.system.listing, self.path(name), contains=code.split(":")[0])
                self.assertEqual(error.message, f"Error: {code}, opendir '{home}/{self.path(name)}'")


class TestRenameMoveDelete(FilesTestCase):
    def test_rename_keeps_the_content_under_the_new_name(self) -> None:
        source = self.write("old.txt", TEXT)
        target = self.path("new", "deeper", "renamed.txt")
        self.assertIsNone(self.call(self.project.system.rename_file, source, target))
        self.assertEqual(self.read_file(target), TEXT)
        self.assertNotIn("old.txt", self.listing_by_name(self.folder, hidden=True))
        self.assertFalse(self.exists(source), "the old name still exists")

    def test_rename_never_replaces_an_existing_file(self) -> None:
        source, target = self.write("a.txt", "a"), self.write("b.txt", "b")
        error = self.assertCallFails(self.project.system.rename_file, source, target, contains="already exists")
        self.assertEqual(error.message, "Error: dest already exists.")
        self.assertEqual((self.read_file(source), self.read_file(target)), ("a", "b"))

    def test_renaming_a_missing_file_is_enoent(self) -> None:
        source = self.path("missing.txt")
        error = self.assertCallFails(self.project.system.rename_file, source, self.path("x.txt"), contains="ENOENT")
        self.assertEqual(error.message, f"Error: ENOENT: no such file or directory, lstat '{self.project_home()}/{source}'")

    def test_rename_carries_the_hidden_companion_files(self) -> None:
        source = self.write("doc.txt", "text")
        self.write(".doc.txt.sage-chat", "chat")
        self.call(self.project.system.rename_file, source, self.path("moved.txt"))
        names = set(self.listing_by_name(self.folder, hidden=True))
        self.assertEqual(names, {"moved.txt", ".moved.txt.sage-chat"}, "the chat file did not follow its document")
        self.assertEqual(self.read_file(self.path(".moved.txt.sage-chat")), "chat")

    def test_move_files_into_a_new_folder(self) -> None:
        first, second = self.write("one.txt", "1"), self.write("two.txt", TEXT)
        dest = self.path("dest")
        self.assertIsNone(self.call(self.project.system.move_files, [first, second], dest))
        moved = self.listing_by_name(dest)
        self.assertEqual(set(moved), {"one.txt", "two.txt"})
        self.assertEqual(moved["two.txt"]["size"], len(TEXT.encode("utf-8")))
        self.assertEqual(self.read_file(self.path("dest", "two.txt")), TEXT)
        self.assertEqual(set(self.listing_by_name(self.folder)), {"dest"}, "the moved files are still in their old folder")

    def test_move_never_replaces_an_existing_file(self) -> None:
        source = self.write("same.txt", "new")
        self.write("dest/same.txt", "old")
        error = self.assertCallFails(self.project.system.move_files, [source], self.path("dest"), contains="already exists")
        self.assertEqual(error.message, "Error: dest already exists.")
        self.assertEqual((self.read_file(source), self.read_file(self.path("dest", "same.txt"))), ("new", "old"))

    def test_delete_files_and_folders(self) -> None:
        keep = self.write("keep.txt", "k")
        gone = self.write("gone.txt", "g")
        self.write("tree/a/b.txt", "b")
        self.assertIsNone(self.call(self.project.system.delete_files, [gone, self.path("tree")]))
        self.assertEqual(set(self.listing_by_name(self.folder, hidden=True)), {"keep.txt"})
        self.assertEqual(self.read_file(keep), "k")

    def test_deleting_a_missing_path_is_no_error(self) -> None:
        """CoCalc's project deletes like ``rm -rf``: a path that is not there is fine."""
        self.write("stay.txt", "s")
        self.assertIsNone(self.call(self.project.system.delete_files, [self.path("never-existed.txt")]))
        self.assertEqual(set(self.listing_by_name(self.folder, hidden=True)), {"stay.txt"})

    def test_delete_removes_the_hidden_companion_files(self) -> None:
        doc = self.write("doc.txt", "text")
        self.write(".doc.txt.time-travel", "history")
        self.write(".other.txt.time-travel", "someone else's")
        self.call(self.project.system.delete_files, [doc])
        self.assertEqual(set(self.listing_by_name(self.folder, hidden=True)), {".other.txt.time-travel"})


class TestPaths(FilesTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.target = self.write("a/b/target.txt", "t")
        self.exec_ok("ln", args=["-s", "a/b/target.txt", self.path("link")])

    def test_realpath_of_a_symlink_is_its_target_relative_to_home(self) -> None:
        self.assertEqual(self.call(self.project.system.realpath, self.path("link")), self.target)

    def test_realpath_of_a_plain_path_is_the_path(self) -> None:
        for path in (self.target, self.path("a")):
            with self.subTest(path=path):
                self.assertEqual(self.call(self.project.system.realpath, path), path)

    def test_realpath_of_a_link_out_of_home_is_the_link(self) -> None:
        """A link leading out of the home folder has no path relative to home: CoCalc answers the link itself."""
        self.exec_ok("ln", args=["-s", "/", self.path("root-link")])
        self.assertEqual(self.call(self.project.system.realpath, self.path("root-link")), self.path("root-link"))

    def test_realpath_of_a_missing_path_is_enoent(self) -> None:
        path = self.path("missing")
        error = self.assertCallFails(self.project.system.realpath, path, contains="ENOENT")
        self.assertEqual(error.message, f"Error: ENOENT: no such file or directory, realpath '{self.project_home()}/{path}'")

    def test_canonical_paths(self) -> None:
        outside = self.exec_ok('cd /tmp && pwd -P', bash=True)["stdout"].rstrip("\n")
        asked = [self.path("a", "..", "a", "b", "target.txt"), self.path("link"), self.path("a") + "/", "/tmp"]
        expected = [self.target, self.target, self.path("a"), f"{self.project_home(physical=True)}/.smc/root{outside}"]
        self.assertEqual(self.call(self.project.system.canonical_paths, asked), expected)

    def test_canonical_paths_of_a_missing_path_is_enoent(self) -> None:
        path = self.path("missing")
        error = self.assertCallFails(self.project.system.canonical_paths, [self.target, path], contains="ENOENT")
        self.assertEqual(error.message, f"Error: ENOENT: no such file or directory, realpath '{self.project_home()}/{path}'")
