"""Configuration read from the environment.

>>> from cocalc_api_tests.config import Config
>>> cfg = Config.from_env({"COCALC_API_KEY": "sk-...", "PGHOST": "/var/run/postgresql"})
>>> cfg.host, cfg.pg_uses_socket
('http://localhost:5000', True)

Variables and defaults: ``COCALC_API_KEY`` (required), ``COCALC_HOST``
(``http://localhost:5000``), ``COCALC_PROJECT_ID``, ``COCALC_TESTS_CLEANUP``
(``true``), ``CI`` (``true``, ``1`` or ``yes`` skips the Jupyter tests; any other
value, or none, runs them), ``PGHOST``, ``PGUSER``
(``smc``), ``PGDATABASE`` (``smc``), ``PGPORT`` (``5432``), ``PGPASSWORD``, and
``COCALC_TESTS_LEDGER_DIR`` (``$XDG_STATE_HOME/cocalc-api-tests``, or
``~/.local/state/cocalc-api-tests``).  This module is the only place that reads them.
"""
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import ConfigError

DEFAULT_HOST = "http://localhost:5000"

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}

MISSING_KEY_HELP = (
    "COCALC_API_KEY is not set. The suite needs an API key of a CoCalc account to call "
    "the server: create one in CoCalc under Account -> Settings -> API keys (a site "
    "admin's key for the organization tests), then run `export COCALC_API_KEY=sk-...` "
    "and, unless the server is at http://localhost:5000, `export COCALC_HOST=...`."
)


def parse_bool(name: str, value: Optional[str], default: bool) -> bool:
    """Read a yes/no variable: true/false, 1/0, yes/no in any case; empty means *default*."""
    if value is None or value.strip() == "":
        return default
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(
        f"{name}={value!r} is not a yes/no value; use one of true/false, 1/0 or yes/no "
        "(any case)."
    )


#: Names the authorization holes a server is known to have (cell ids ``call × actor``, one per line or
#: separated by ``;``): their tests are expected failures, and one that passes fails the run.
KNOWN_HOLES_VARIABLE = "COCALC_TESTS_KNOWN_HOLES"


def known_holes_from_env(environ: Optional[Mapping[str, str]] = None) -> Tuple[str, ...]:
    """The cell ids of :data:`KNOWN_HOLES_VARIABLE`, in order, without blanks."""
    env = os.environ if environ is None else environ
    text = env.get(KNOWN_HOLES_VARIABLE, "")
    return tuple(dict.fromkeys(p.strip() for p in text.replace(";", "\n").splitlines() if p.strip()))


def ci_from_env(environ: Optional[Mapping[str, str]] = None) -> bool:
    """``CI`` as the suite reads it: true, 1 or yes (any case) means a CI machine."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in _TRUE


def ledger_dir_from_env(environ: Optional[Mapping[str, str]] = None) -> str:
    """Where the ledgers of interrupted runs live (``COCALC_TESTS_LEDGER_DIR`` or the XDG state folder)."""
    env = os.environ if environ is None else environ
    explicit = env.get("COCALC_TESTS_LEDGER_DIR", "").strip()
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    state = env.get("XDG_STATE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "cocalc-api-tests")


def _check_key(api_key: str) -> None:
    """CoCalc's keys are printable ASCII (``sk-...``); anything else cannot go into an HTTP header."""
    bad = [c for c in api_key if not (" " < c < "\x7f")]
    if bad:
        raise ConfigError(
            "COCALC_API_KEY holds characters an API key cannot have (spaces, control characters or "
            f"non-ASCII letters such as {bad[0]!r}); copy the key again from CoCalc (Account -> Settings -> "
            "API keys) and export it unchanged."
        )


@dataclass(frozen=True)
class Config:
    """Everything the suite reads from the environment, immutable once built.

    The API key and the database password are kept out of ``repr``.
    """

    api_key: str = field(repr=False)
    host: str = DEFAULT_HOST
    project_id: Optional[str] = None
    cleanup: bool = True
    ci: bool = False
    pghost: Optional[str] = None
    pguser: str = "smc"
    pgdatabase: str = "smc"
    pgport: int = 5432
    pgpassword: Optional[str] = field(default=None, repr=False)
    ledger_dir: str = field(default_factory=ledger_dir_from_env)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "Config":
        """Build the configuration from *environ* (default ``os.environ``).

        Raises :class:`ConfigError` with a one-paragraph explanation when a value is
        missing or malformed.
        """
        env = os.environ if environ is None else environ
        api_key = env.get("COCALC_API_KEY", "").strip()
        if not api_key:
            raise ConfigError(MISSING_KEY_HELP)
        _check_key(api_key)
        host = (env.get("COCALC_HOST", "").strip() or DEFAULT_HOST).rstrip("/")
        if not host.startswith(("http://", "https://")):
            raise ConfigError(
                f"COCALC_HOST={host!r} is not an http(s) URL; set it to the address of the "
                "CoCalc server, for example http://localhost:5000."
            )
        project_id = env.get("COCALC_PROJECT_ID", "").strip() or None
        if project_id is not None:
            try:
                project_id = str(uuid.UUID(project_id))
            except ValueError:
                raise ConfigError(
                    f"COCALC_PROJECT_ID={project_id!r} is not a project id (a UUID); unset "
                    "it to let the suite create a temporary project."
                ) from None
        port_text = env.get("PGPORT", "").strip() or "5432"
        try:
            pgport = int(port_text)
            if not 0 < pgport < 65536:
                raise ValueError
        except ValueError:
            raise ConfigError(f"PGPORT={port_text!r} is not a TCP port number (1-65535).") from None
        ledger_dir = ledger_dir_from_env(env)
        if os.path.exists(ledger_dir) and not os.path.isdir(ledger_dir):
            raise ConfigError(
                f"COCALC_TESTS_LEDGER_DIR names {ledger_dir}, which is a file, not a folder; point it at a folder (it "
                "is made if missing), where the suite records what a run creates so an interrupted run can be cleaned up."
            )
        return cls(
            api_key=api_key,
            host=host,
            project_id=project_id,
            cleanup=parse_bool("COCALC_TESTS_CLEANUP", env.get("COCALC_TESTS_CLEANUP"), True),
            ci=ci_from_env(env),
            pghost=env.get("PGHOST", "").strip() or None,
            pguser=env.get("PGUSER", "").strip() or "smc",
            pgdatabase=env.get("PGDATABASE", "").strip() or "smc",
            pgport=pgport,
            pgpassword=env.get("PGPASSWORD") or None,
            ledger_dir=ledger_dir,
        )

    @property
    def pg_uses_socket(self) -> bool:
        """True when PGHOST names a Unix-socket directory (it starts with ``/``)."""
        return bool(self.pghost) and self.pghost.startswith("/")

    def database_target(self) -> Dict[str, Any]:
        """Which database the cleaner works on: host (or socket folder), port and name, never the user."""
        host = os.path.normpath(self.pghost) if self.pg_uses_socket else (self.pghost or "").lower()
        return {"host": host, "port": self.pgport, "database": self.pgdatabase}

    def describe_database(self) -> str:
        """Where the cleaner connects, without the password."""
        if not self.pghost:
            return "no database (PGHOST is unset)"
        if self.pg_uses_socket:
            where = f"Unix socket {self.pghost}/.s.PGSQL.{self.pgport}"
        else:
            where = f"TCP {self.pghost}:{self.pgport}"
        return f"database {self.pgdatabase!r} as user {self.pguser!r} over {where}"
