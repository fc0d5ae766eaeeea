"""Set up (and tear down) a whole stand-in environment, and the command line around it.

:class:`StandinEnvironment` finds or starts PostgreSQL, creates a throwaway
database with CoCalc's tables, starts the stand-in server on a free loopback
port with its projects under a temporary directory, and mints a site-admin
account with an API key::

    with StandinEnvironment() as env:
        env.environ   # COCALC_HOST, COCALC_API_KEY, PGHOST (socket dir), PGUSER, PGDATABASE, PGPORT
        env.mint_key(admin=False)   # another account: (account_id, api_key)

Command line (``python -m cocalc_standin``):

* ``serve [--profile NAME] [--port P] [--site-url URL] [--verbose]``: set up,
  print ``export`` lines, serve until SIGINT/SIGTERM, tear down;
* ``run [--profile NAME] [run options...]``: set up, run ``python -m
  cocalc_api_tests run`` (the whole suite unless tests are named) with cleanup enabled, then print
  the rows the run left in any table and ``leaked rows: N``; exit non-zero on
  failed tests or leaks;
* ``mint-key [--admin]``: add an account with an API key to the stand-in
  database named by the PG* variables and print its ``export`` line;
* ``faults [--table]``: list the id of every fault the stand-in can make
  (with ``--table``, what each does and the kinds that do not apply, with why);
* ``checks``: list the permission checks, ``name<TAB>description``.

``COCALC_STANDIN_FAULT=<call>:<kind>`` makes ``serve`` and ``run`` break that one
thing (:mod:`~cocalc_standin.faults`); ``run`` then ends with ``fault <id>:
changed N of M calls``.

``--profile`` chooses how fast the stand-in answers (``fast``, the default, or
``real``: as slow as a real CoCalc), and ``COCALC_STANDIN_TIME_SCALE`` scales
its latencies (see :mod:`~cocalc_standin.profile`).  ``COCALC_STANDIN_BREAK_CHECKS``
(comma-separated check names) switches permission checks off, to play a server
that forgot them (see :mod:`~cocalc_standin.checks`).
"""
import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

import pg8000.native

from . import faults
from .api_auth import mint_account
from .checks import BREAK_VARIABLE, CheckError, listing, parse_broken
from .profile import DEFAULT_PROFILE, Profile, ProfileError, get_profile, names, profile_from_env
from .projects import Projects
from .server import App, StandinServer
from .store import Store

#: Every stand-in database's name starts with this.
DATABASE_PREFIX = "cocalc_standin_"

Snapshot = Dict[str, Set[Tuple[Optional[str], ...]]]


class SetupError(Exception):
    """The environment could not be set up; ``str()`` says why and what to do."""


def _default_pg(workdir: str) -> Any:
    try:
        from .pgserver import PostgresServer, PostgresUnavailable
    except ImportError as err:
        raise SetupError(f"the stand-in's PostgreSQL helper is missing ({err}); reinstall cocalc-api-tests") from None
    try:
        return PostgresServer.find_or_start(workdir)
    except PostgresUnavailable as err:
        raise SetupError(str(err)) from None


class StandinEnvironment:
    """A running stand-in with its own database; use it as a context manager.

    *profile* sets how fast it answers (default ``fast``).  *break_checks* names
    permission checks to switch off (default: those in ``COCALC_STANDIN_BREAK_CHECKS``;
    an unknown name raises :class:`~cocalc_standin.checks.CheckError`).  *pg_factory(workdir)*
    returns an object with ``socket_dir``, ``host``, ``port``, ``user``,
    ``password``, ``create_database``, ``drop_database`` and ``stop``
    (default: :class:`~cocalc_standin.pgserver.PostgresServer`).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        site_url: str = "",
        verbose: bool = False,
        pg_factory: Optional[Callable[[str], Any]] = None,
        profile: Optional[Profile] = None,
        fault: Any = None,
        break_checks: Optional[Iterable[str]] = None,
    ):
        self.port = port
        self.profile = profile or get_profile()
        #: Permission checks switched off (:mod:`~cocalc_standin.checks`); by default from COCALC_STANDIN_BREAK_CHECKS.
        self.broken_checks = parse_broken(os.environ.get(BREAK_VARIABLE) if break_checks is None else break_checks)
        #: The :class:`~cocalc_standin.faults.Fault` the server makes (None: none).
        self.fault = fault
        self.site_url = site_url
        self.verbose = verbose
        self._pg_factory = pg_factory or _default_pg
        self.workdir: Optional[str] = None
        self.pg: Any = None
        self.database: Optional[str] = None
        self.store: Optional[Store] = None
        self.projects: Optional[Projects] = None
        self.server: Optional[StandinServer] = None
        self.admin_account_id: Optional[str] = None
        self.admin_key: Optional[str] = None
        self.environ: Dict[str, str] = {}

    def __enter__(self) -> "StandinEnvironment":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _start(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="cocalc-standin-")
        os.chmod(self.workdir, 0o711)  # a PostgreSQL cluster owned by another user may live inside
        self.pg = self._pg_factory(self.workdir)
        database = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
        self.pg.create_database(database)
        self.database = database
        self.store = Store(self._connector(database))
        self.store.load_schema()
        self.projects = Projects(self.store, os.path.join(self.workdir, "projects"), self.profile)
        app = App(self.store, self.projects, self.site_url, broken_checks=self.broken_checks)
        if self.fault is not None:
            faults.install(app, self.fault)
        try:
            self.server = StandinServer(app, self.port, verbose=self.verbose).start()
        except OSError as err:
            raise SetupError(f"cannot listen on 127.0.0.1:{self.port} ({err.strerror}); choose another --port") from None
        self.admin_account_id, self.admin_key = mint_account(self.store, admin=True, key_name="stand-in site admin")
        self.environ = {
            "COCALC_HOST": self.server.url,
            "COCALC_API_KEY": self.admin_key,
            "PGHOST": self.pg.socket_dir,
            "PGUSER": self.pg.user,
            "PGDATABASE": database,
            "PGPORT": str(self.pg.port),
        }
        if self.pg.password:
            self.environ["PGPASSWORD"] = self.pg.password

    def _connector(self, database: str) -> Callable[[], pg8000.native.Connection]:
        pg = self.pg

        def connect() -> pg8000.native.Connection:
            return pg8000.native.Connection(
                pg.user,
                unix_sock=os.path.join(pg.socket_dir, f".s.PGSQL.{pg.port}"),
                database=database,
                password=pg.password or None,
            )

        return connect

    def mint_key(self, admin: bool = False) -> Tuple[str, str]:
        """A new account (site admin if *admin*) with an API key: ``(account_id, api_key)``."""
        assert self.store is not None, "the environment is not running"
        return mint_account(self.store, admin=admin)

    def close(self) -> None:
        """Stop the server and the projects, drop the database, stop PostgreSQL if started here."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.projects is not None:
            self.projects.shutdown()
            self.projects = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.pg is not None:
            if self.database is not None:
                try:
                    self.pg.drop_database(self.database)
                except Exception as err:  # report and go on tearing down
                    print(f"cocalc-standin: could not drop database {self.database}: {err}", file=sys.stderr)
                self.database = None
            self.pg.stop()
            self.pg = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


# ------------------------------------------------------------------------ leak check


def _identity_columns(store: Store) -> Dict[str, List[str]]:
    """Each public table's primary-key columns (all columns for a table without one)."""
    tables = [r["tablename"] for r in store.query("SELECT tablename FROM pg_tables WHERE schemaname='public'")]
    keys: Dict[str, List[str]] = {t: [] for t in tables}
    for row in store.query(
        "SELECT c.relname AS tbl, a.attname AS col FROM pg_index i "
        "JOIN pg_class c ON c.oid=i.indrelid JOIN pg_namespace n ON n.oid=c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid=c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indisprimary AND n.nspname='public' ORDER BY c.relname, a.attnum"
    ):
        keys.setdefault(row["tbl"], []).append(row["col"])
    for table, columns in keys.items():
        if not columns:
            columns.extend(
                r["column_name"]
                for r in store.query(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema='public' "
                    "AND table_name=:t ORDER BY ordinal_position",
                    t=table,
                )
            )
    return keys


def snapshot(store: Store) -> Snapshot:
    """The identity (primary key) of every row of every public table."""
    result: Snapshot = {}
    for table, columns in _identity_columns(store).items():
        select = ", ".join(f'("{c}")::text AS "{c}"' for c in columns)
        rows = store.query(f'SELECT {select} FROM public."{table}"')
        result[table] = {tuple(row[c] for c in columns) for row in rows}
    return result


def leaked_rows(store: Store, before: Snapshot) -> List[Tuple[str, Dict[str, Optional[str]]]]:
    """Rows present now that were not in *before*: ``(table, {key column: value})``."""
    leaks = []
    columns = _identity_columns(store)
    for table, now in snapshot(store).items():
        for key in sorted(now - before.get(table, set()), key=lambda k: tuple(str(v) for v in k)):
            leaks.append((table, dict(zip(columns[table], key))))
    return leaks


# ------------------------------------------------------------------------ commands


class _Stop(Exception):
    """SIGTERM arrived."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop()


def run_suite(env: StandinEnvironment, run_args: List[str]) -> int:
    """Run the suite against *env* with the suite's own command line, report leaked rows; the exit status.

    *run_args* go to ``python -m cocalc_api_tests run`` (``-v``, ``-k``, ``--parallel``, test names...).
    """
    assert env.store is not None
    before = snapshot(env.store)
    child_env = {k: v for k, v in os.environ.items() if k not in ("COCALC_PROJECT_ID", "PGPASSWORD")}
    child_env.update(env.environ, COCALC_TESTS_CLEANUP="true")
    # The database goes away with the stand-in, so its ledgers go too.
    child_env.setdefault("COCALC_TESTS_LEDGER_DIR", os.path.join(env.workdir or "", "ledgers"))
    child = subprocess.Popen([sys.executable, "-m", "cocalc_api_tests", "run"] + list(run_args), env=child_env)
    try:
        status = child.wait()
    except BaseException:
        child.terminate()
        child.wait()
        raise
    leaks = leaked_rows(env.store, before)
    for table, key in leaks:
        print(f"leaked row: {table} " + " ".join(f"{k}={v}" for k, v in key.items()))
    print(f"leaked rows: {len(leaks)}", flush=True)
    return 1 if status != 0 or leaks else 0


def _serve(env: StandinEnvironment) -> None:
    for name, value in env.environ.items():
        print(f"export {name}={shlex.quote(value)}")
    if env.fault is not None:
        print(f"# fault {env.fault.id}: {env.fault.what}")
    print(f"# stand-in CoCalc at {env.server.url if env.server else '?'} (profile {env.profile.name}, time scale "
          f"{env.profile.scale:g}); Ctrl-C stops it", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(3600):
        pass


def _mint(admin: bool) -> None:
    from cocalc_api_tests.config import Config

    config = Config.from_env(dict(os.environ, COCALC_API_KEY="unused"))
    if not config.pghost or not config.pgdatabase.startswith(DATABASE_PREFIX):
        raise SetupError(
            f"PGHOST/PGDATABASE do not name a stand-in database ({DATABASE_PREFIX}...); run the `export` "
            "lines that `serve` printed first. mint-key never writes to other databases."
        )
    if config.pg_uses_socket:
        where: Dict[str, Any] = {"unix_sock": os.path.join(config.pghost, f".s.PGSQL.{config.pgport}")}
    else:
        where = {"host": config.pghost, "port": config.pgport}
    store = Store(lambda: pg8000.native.Connection(
        config.pguser, database=config.pgdatabase, password=config.pgpassword, **where
    ))
    try:
        account_id, key = mint_account(store, admin=admin)
    finally:
        store.close()
    print(f"# account {account_id} ({'site admin' if admin else 'plain user'})")
    print(f"export COCALC_API_KEY={shlex.quote(key)}")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port number (0-65535)")
    return port


def _split_profile(args: List[str]) -> Tuple[str, List[str]]:
    """The ``--profile NAME`` (or ``--profile=NAME``) leading *args*, and the rest."""
    if args[:1] == ["--profile"]:
        if len(args) < 2 or args[1].startswith("-"):
            raise ProfileError(f"--profile needs a profile name: {', '.join(names())}.")
        return args[1], args[2:]
    if args[:1] and args[0].startswith("--profile="):
        return args[0].partition("=")[2], args[1:]
    return DEFAULT_PROFILE, args


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m cocalc_standin``."""
    parser = argparse.ArgumentParser(prog="python -m cocalc_standin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a stand-in CoCalc in the foreground")
    serve.add_argument("--port", type=_port, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--site-url", default="", help="the site URL used in sign-in token links")
    serve.add_argument("--verbose", action="store_true", help="log every HTTP request")
    serve.add_argument("--profile", default=DEFAULT_PROFILE, help=f"how fast it answers: {', '.join(names())}")
    run = commands.add_parser("run", help="run the suite against a fresh stand-in and count leaked rows "
                                          "(`run [--profile NAME] [run options]`)")
    run.add_argument("run_args", nargs=argparse.REMAINDER, help="options and test names for python -m cocalc_api_tests run")
    mint = commands.add_parser("mint-key", help="add an account with an API key to a running stand-in's database")
    mint.add_argument("--admin", action="store_true", help="make the account a site admin")
    fault_list = commands.add_parser("faults", help="list the faults COCALC_STANDIN_FAULT can name, one id a line")
    fault_list.add_argument("--table", action="store_true", help="also what each does, and the kinds that do not apply")
    commands.add_parser("checks", help=f"list the permission checks (names for {BREAK_VARIABLE}), name<TAB>description")
    args = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        if args[:1] == ["run"]:  # after `run` (and its --profile) everything belongs to the suite's `run`
            options = parser.parse_args(["run"])
            options.profile, options.run_args = _split_profile(args[1:])
        else:
            options = parser.parse_args(args)
        if options.command == "mint-key":
            _mint(options.admin)
            return 0
        if options.command == "faults":
            print("\n".join(faults.describe() if options.table else faults.table().ids()))
            return 0
        if options.command == "checks":
            sys.stdout.write(listing())
            return 0
        profile = profile_from_env(options.profile, os.environ)
        fault = faults.from_env(os.environ)
        broken = parse_broken(os.environ.get(BREAK_VARIABLE))
        if broken:
            print(f"cocalc-standin: WARNING: permission checks switched off by {BREAK_VARIABLE}: "
                  f"{', '.join(sorted(broken))}", file=sys.stderr)
        port = getattr(options, "port", 0)
        with StandinEnvironment(port=port, site_url=getattr(options, "site_url", ""),
                                verbose=getattr(options, "verbose", False), profile=profile, fault=fault,
                                break_checks=broken) as env:
            if options.command == "serve":
                _serve(env)
                return 0
            status = run_suite(env, options.run_args)
            if fault is not None and env.server is not None:
                print(faults.summary(env.server.app), flush=True)
            return status
    except (SetupError, ProfileError, faults.FaultError, CheckError) as err:
        print(f"cocalc-standin: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, _Stop):
        print("cocalc-standin: interrupted; everything it started is stopped.", file=sys.stderr)
        return 130
    except Exception as err:  # e.g. the database refused a connection: one paragraph, no traceback
        print(f"cocalc-standin: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
