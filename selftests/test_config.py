"""cocalc_api_tests.config: defaults, validation, secrets kept out of text, immutability."""
import dataclasses
import os
import secrets
import tempfile
import unittest
import uuid
from typing import Dict, Optional
from unittest import mock

from cocalc_api_tests.config import DEFAULT_HOST, MISSING_KEY_HELP, Config, parse_bool
from cocalc_api_tests.errors import CoCalcError, ConfigError

from helpers import API_KEY, overridden

PG_PASSWORD = "pw-selftest-" + secrets.token_hex(16)


def env_with(**overrides: Optional[str]) -> Dict[str, str]:
    """An environment holding the API key plus *overrides* (a value of None leaves the name out)."""
    return overridden({"COCALC_API_KEY": API_KEY}, **overrides)


def config_with(**overrides: Optional[str]) -> Config:
    """``Config.from_env(env_with(**overrides))``."""
    return Config.from_env(env_with(**overrides))


class ConfigTestCase(unittest.TestCase):
    """Shared assertion: building from an environment fails with a ConfigError naming something."""

    def assertConfigError(self, env: Dict[str, str], *fragments: str) -> ConfigError:
        """``Config.from_env(env)`` raises ConfigError whose text holds each of *fragments*."""
        with self.assertRaises(ConfigError) as caught:
            Config.from_env(env)
        text = str(caught.exception)
        for fragment in fragments:
            self.assertIn(fragment, text)
        return caught.exception


class DefaultsTest(ConfigTestCase):
    def test_exact_defaults_with_only_the_api_key(self) -> None:
        cfg = Config.from_env({"COCALC_API_KEY": API_KEY})
        self.assertEqual(cfg.api_key, API_KEY)
        self.assertEqual(cfg.host, "http://localhost:5000")
        self.assertEqual(DEFAULT_HOST, "http://localhost:5000")
        self.assertIsNone(cfg.project_id)
        self.assertIs(cfg.cleanup, True)
        self.assertIs(cfg.ci, False)
        self.assertIsNone(cfg.pghost)
        self.assertEqual(cfg.pguser, "smc")
        self.assertEqual(cfg.pgdatabase, "smc")
        self.assertEqual(cfg.pgport, 5432)
        self.assertIsInstance(cfg.pgport, int)
        self.assertIsNone(cfg.pgpassword)

    def test_blank_values_fall_back_to_the_defaults(self) -> None:
        cfg = config_with(COCALC_HOST="  ", PGUSER="", PGDATABASE=" ", PGPORT="", COCALC_TESTS_CLEANUP="", CI="", PGHOST=" ")
        self.assertEqual(
            (cfg.host, cfg.pguser, cfg.pgdatabase, cfg.pgport, cfg.cleanup, cfg.ci, cfg.pghost),
            ("http://localhost:5000", "smc", "smc", 5432, True, False, None),
        )

    def test_given_values_are_used(self) -> None:
        project_id = str(uuid.uuid4())
        cfg = config_with(
            COCALC_HOST="https://cocalc.example.org",
            COCALC_PROJECT_ID=project_id,
            PGHOST="db.example.org",
            PGUSER="alice",
            PGDATABASE="cocalc",
            PGPORT="5433",
            PGPASSWORD=PG_PASSWORD,
        )
        self.assertEqual(cfg.host, "https://cocalc.example.org")
        self.assertEqual(cfg.project_id, project_id)
        self.assertEqual((cfg.pghost, cfg.pguser, cfg.pgdatabase, cfg.pgport), ("db.example.org", "alice", "cocalc", 5433))
        self.assertEqual(cfg.pgpassword, PG_PASSWORD)

    def test_from_env_without_argument_reads_os_environ(self) -> None:
        with mock.patch.dict(os.environ, {"COCALC_API_KEY": API_KEY, "PGUSER": "from-os-environ"}, clear=True):
            cfg = Config.from_env()
        self.assertEqual((cfg.api_key, cfg.pguser), (API_KEY, "from-os-environ"))


class ApiKeyTest(ConfigTestCase):
    def test_missing_or_blank_key_raises_the_help_text(self) -> None:
        for env in ({}, {"COCALC_API_KEY": ""}, {"COCALC_API_KEY": "   "}, {"COCALC_API_KEY": "\t\n"}):
            with self.subTest(env=env):
                with self.assertRaises(ConfigError) as caught:
                    Config.from_env(env)
                self.assertEqual(str(caught.exception), MISSING_KEY_HELP)
                self.assertIsInstance(caught.exception, ValueError)
                self.assertIsInstance(caught.exception, CoCalcError)

    def test_help_text_says_how_to_fix_it(self) -> None:
        self.assertIn("COCALC_API_KEY", MISSING_KEY_HELP)
        self.assertIn("export COCALC_API_KEY=", MISSING_KEY_HELP)
        self.assertIn("COCALC_HOST", MISSING_KEY_HELP)

    def test_key_is_stripped(self) -> None:
        self.assertEqual(Config.from_env({"COCALC_API_KEY": f"  {API_KEY}\n"}).api_key, API_KEY)


class ParseBoolTest(ConfigTestCase):
    def test_accepted_spellings_in_any_case(self) -> None:
        cases = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
        for word, expected in cases.items():
            for spelling in (word, word.upper(), word.capitalize(), f"  {word} "):
                with self.subTest(value=spelling):
                    self.assertIs(parse_bool("X", spelling, not expected), expected)
                    self.assertIs(config_with(COCALC_TESTS_CLEANUP=spelling).cleanup, expected)

    def test_absent_or_empty_means_default(self) -> None:
        for value in (None, "", "   "):
            for default in (True, False):
                with self.subTest(value=value, default=default):
                    self.assertIs(parse_bool("X", value, default), default)

    def test_anything_else_raises_naming_the_variable(self) -> None:
        for value in ("maybe", "2", "-1", "on", "off", "y", "n", "truee"):
            with self.subTest(value=value):
                with self.assertRaises(ConfigError) as caught:
                    parse_bool("SOME_FLAG", value, True)
                self.assertIn("SOME_FLAG", str(caught.exception))
                self.assertIn(repr(value), str(caught.exception))
                self.assertConfigError(env_with(COCALC_TESTS_CLEANUP=value), "COCALC_TESTS_CLEANUP", repr(value))


class CiTest(ConfigTestCase):
    def test_true_one_yes_mean_ci(self) -> None:
        for value in ("true", "TRUE", "True", "1", "yes", "YES", " yes "):
            with self.subTest(CI=value):
                self.assertIs(config_with(CI=value).ci, True)

    def test_other_values_or_none_mean_not_ci(self) -> None:
        for value in (None, "", "false", "0", "no", "maybe", "2"):
            with self.subTest(CI=value):
                self.assertIs(config_with(CI=value).ci, False)


class ValidationTest(ConfigTestCase):
    def test_host_without_http_scheme_raises(self) -> None:
        for host in ("localhost:5000", "cocalc.example.org", "ftp://cocalc.example.org", "//localhost:5000"):
            with self.subTest(host=host):
                self.assertConfigError(env_with(COCALC_HOST=host), "COCALC_HOST", repr(host))

    def test_trailing_slash_of_host_is_stripped(self) -> None:
        for given, expected in (
            ("http://localhost:5000/", "http://localhost:5000"),
            ("https://cocalc.example.org//", "https://cocalc.example.org"),
            ("  https://cocalc.example.org/  ", "https://cocalc.example.org"),
            ("http://h:1/prefix/", "http://h:1/prefix"),
        ):
            with self.subTest(host=given):
                self.assertEqual(config_with(COCALC_HOST=given).host, expected)

    def test_bad_pgport_raises(self) -> None:
        for port in ("abc", "0", "70000", "65536", "-1", "54.32"):
            with self.subTest(PGPORT=port):
                self.assertConfigError(env_with(PGPORT=port), "PGPORT", repr(port))

    def test_edge_ports_are_accepted(self) -> None:
        for port in ("1", "65535", " 6543 "):
            with self.subTest(PGPORT=port):
                self.assertEqual(config_with(PGPORT=port).pgport, int(port))

    def test_bad_project_id_raises(self) -> None:
        for project_id in ("not-a-uuid", "1234", str(uuid.uuid4())[:-1]):
            with self.subTest(project_id=project_id):
                self.assertConfigError(env_with(COCALC_PROJECT_ID=project_id), "COCALC_PROJECT_ID", repr(project_id))

    def test_project_id_is_normalised(self) -> None:
        project_id = uuid.uuid4()
        for given in (str(project_id), str(project_id).upper(), project_id.hex, f" {project_id} "):
            with self.subTest(given=given):
                self.assertEqual(config_with(COCALC_PROJECT_ID=given).project_id, str(project_id))

    def test_config_errors_never_show_the_api_key(self) -> None:
        for env in (env_with(COCALC_HOST="nohost"), env_with(PGPORT="abc"), env_with(COCALC_PROJECT_ID="x"),
                    env_with(COCALC_TESTS_CLEANUP="maybe")):
            with self.subTest(env={k: v for k, v in env.items() if k != "COCALC_API_KEY"}):
                error = self.assertConfigError(env)
                self.assertNotIn(API_KEY, str(error))


class DatabaseTest(ConfigTestCase):
    def test_pghost_with_leading_slash_is_a_socket(self) -> None:
        for pghost in ("/var/run/postgresql", "/tmp", "/"):
            with self.subTest(PGHOST=pghost):
                self.assertIs(config_with(PGHOST=pghost).pg_uses_socket, True)

    def test_other_pghost_is_tcp(self) -> None:
        for pghost in ("localhost", "127.0.0.1", "db.example.org", "relative/dir"):
            with self.subTest(PGHOST=pghost):
                self.assertIs(config_with(PGHOST=pghost).pg_uses_socket, False)

    def test_unset_pghost_is_no_socket_and_no_database(self) -> None:
        cfg = config_with()
        self.assertIs(cfg.pg_uses_socket, False)
        self.assertEqual(cfg.describe_database(), "no database (PGHOST is unset)")

    def test_describe_database_socket(self) -> None:
        cfg = config_with(PGHOST="/var/run/postgresql", PGPORT="5433", PGUSER="alice", PGDATABASE="cocalc")
        self.assertEqual(
            cfg.describe_database(),
            "database 'cocalc' as user 'alice' over Unix socket /var/run/postgresql/.s.PGSQL.5433",
        )

    def test_describe_database_tcp(self) -> None:
        cfg = config_with(PGHOST="db.example.org")
        self.assertEqual(cfg.describe_database(), "database 'smc' as user 'smc' over TCP db.example.org:5432")

    def test_describe_database_never_shows_the_password(self) -> None:
        for pghost in (None, "/var/run/postgresql", "db.example.org"):
            with self.subTest(PGHOST=pghost):
                cfg = config_with(PGHOST=pghost, PGPASSWORD=PG_PASSWORD)
                self.assertEqual(cfg.pgpassword, PG_PASSWORD)
                self.assertNotIn(PG_PASSWORD, cfg.describe_database())
                self.assertNotIn(API_KEY, cfg.describe_database())


class SecretsAndImmutabilityTest(ConfigTestCase):
    def test_repr_and_str_hide_the_key_and_the_password(self) -> None:
        cfg = config_with(PGHOST="db.example.org", PGPASSWORD=PG_PASSWORD)
        for text in (repr(cfg), str(cfg), f"{cfg}", f"{cfg!r}"):
            self.assertNotIn(API_KEY, text)
            self.assertNotIn(PG_PASSWORD, text)
        self.assertIn("db.example.org", repr(cfg), "repr should still show the harmless fields")

    def test_config_is_frozen(self) -> None:
        cfg = config_with()
        for name, value in (("api_key", "other"), ("host", "http://elsewhere"), ("pgport", 1), ("cleanup", False)):
            with self.subTest(field=name):
                with self.assertRaises(dataclasses.FrozenInstanceError):
                    setattr(cfg, name, value)
                self.assertNotEqual(getattr(cfg, name), value)
        with self.assertRaises(dataclasses.FrozenInstanceError):
            cfg.new_attribute = 1  # type: ignore[attr-defined]

    def test_equal_environments_give_equal_configs(self) -> None:
        self.assertEqual(config_with(PGHOST="/tmp"), config_with(PGHOST="/tmp"))
        self.assertNotEqual(config_with(PGHOST="/tmp"), config_with(PGHOST="/run"))



class KeyAndLedgerFolderTest(ConfigTestCase):
    """Values that would fail later, deep inside a library, are refused here with one paragraph."""

    def test_key_with_characters_an_http_header_cannot_carry(self) -> None:
        for key in ("sk-üñí", "sk-with space", "sk-tab\there", "sk-\x00nul"):
            with self.subTest(key=key):
                error = self.assertConfigError(env_with(COCALC_API_KEY=key), "COCALC_API_KEY", "copy the key again")
                self.assertNotIn(key, str(error), "the refused key itself is printed")

    def test_ledger_folder_that_is_a_file(self) -> None:
        with tempfile.NamedTemporaryFile() as afile:
            self.assertConfigError(env_with(COCALC_TESTS_LEDGER_DIR=afile.name), afile.name, "a file, not a folder")

    def test_ledger_folder_defaults_and_override(self) -> None:
        self.assertEqual(config_with(XDG_STATE_HOME="/state").ledger_dir, "/state/cocalc-api-tests")
        self.assertEqual(config_with(COCALC_TESTS_LEDGER_DIR="/x/ledgers", XDG_STATE_HOME="/state").ledger_dir, "/x/ledgers")

    def test_database_target_ignores_the_user(self) -> None:
        one = config_with(PGHOST="/var/run/postgresql/", PGUSER="smc")
        other = config_with(PGHOST="/var/run/postgresql", PGUSER="someone_else")
        self.assertEqual(one.database_target(), other.database_target())
        self.assertNotEqual(one.database_target(), config_with(PGHOST="/var/run/postgresql", PGDATABASE="other").database_target())


if __name__ == "__main__":
    unittest.main()
