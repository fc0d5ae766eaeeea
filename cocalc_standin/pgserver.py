"""A PostgreSQL server for the stand-in and the self-tests: a running one, or a throwaway one.

>>> pg = PostgresServer.find_or_start("/tmp/work")
>>> pg.create_database("cocalc_standin_x")
>>> conn = pg.connect("cocalc_standin_x")            # superuser, over the Unix socket
>>> pg.stop()                                        # only stops a cluster it started

:meth:`PostgresServer.start` always makes a new cluster (its TCP port checks
passwords with scram-sha-256), which the self-tests use to prove password auth.

``COCALC_STANDIN_PG=throwaway`` makes :meth:`PostgresServer.find` find nothing, so
:meth:`PostgresServer.find_or_start` always starts a throwaway cluster: the path
of a machine with no PostgreSQL running, checked without stopping the one that runs
(``COCALC_STANDIN_PG=throwaway scripts/selftest.sh``).
"""
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from typing import List, Optional

INSTALL_HINT = (
    "No PostgreSQL server could be used or started. Install PostgreSQL (Debian/Ubuntu: "
    "`apt-get install postgresql`, which provides initdb and pg_ctl under "
    "/usr/lib/postgresql/<version>/bin; macOS: `brew install postgresql`), or start a server "
    "and point PGHOST at its socket directory."
)


class PostgresUnavailable(RuntimeError):
    """Neither a usable running server nor the programs to start one were found."""


def _connect(user: str, database: str, socket_dir: str, port: int, password: Optional[str] = None):
    import pg8000.dbapi

    return pg8000.dbapi.connect(
        user=user,
        database=database,
        unix_sock=os.path.join(socket_dir, f".s.PGSQL.{port}"),
        password=password,
        timeout=10,
    )


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(program: str) -> Optional[str]:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return found[-1]
    return shutil.which(program)


class PostgresServer:
    """A PostgreSQL server reachable as a superuser over a Unix socket (and TCP on 127.0.0.1)."""

    def __init__(self, socket_dir: str, port: int, user: str, password: Optional[str] = None,
                 data_dir: Optional[str] = None, owner: Optional[str] = None):
        self.socket_dir = socket_dir
        self.host = "127.0.0.1"
        self.port = port
        self.user = user
        self.password = password
        self._data_dir = data_dir
        self._owner = owner

    @property
    def started_here(self) -> bool:
        """True when this object started the cluster (and :meth:`stop` will stop it)."""
        return self._data_dir is not None

    # -- finding and starting ------------------------------------------------------

    @classmethod
    def find(cls) -> Optional["PostgresServer"]:
        """A running server on which ``postgres`` (or the current user) is a superuser.

        None when there is none, or when ``COCALC_STANDIN_PG=throwaway`` asks to ignore it.
        """
        if os.environ.get("COCALC_STANDIN_PG", "").strip().lower() == "throwaway":
            return None
        dirs: List[str] = []
        pghost = os.environ.get("PGHOST", "")
        if pghost.startswith("/"):
            dirs.append(pghost)
        dirs += ["/var/run/postgresql", "/run/postgresql", "/tmp"]
        users = ["postgres", pwd.getpwuid(os.getuid()).pw_name]
        for directory in dirs:
            for sock in sorted(glob.glob(os.path.join(directory, ".s.PGSQL.*"))):
                if sock.endswith(".lock"):
                    continue
                port = int(sock.rsplit(".", 1)[1])
                for user in users:
                    try:
                        conn = _connect(user, "postgres", directory, port)
                    except Exception:
                        continue
                    try:
                        cur = conn.cursor()
                        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                        if cur.fetchone()[0]:
                            return cls(directory, port, user)
                    finally:
                        conn.close()
        return None

    @classmethod
    def start(cls, workdir: Optional[str] = None) -> "PostgresServer":
        """Start a new cluster in a temporary directory (as user ``postgres`` when run as root)."""
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise PostgresUnavailable(INSTALL_HINT)
        owner = None
        if os.getuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "Running as root, a throwaway PostgreSQL cluster must run as user 'postgres', "
                    "which does not exist; install PostgreSQL (`apt-get install postgresql`) or run "
                    "as an ordinary user."
                ) from None
            owner = "postgres"
        # Not under *workdir*: user postgres must be able to reach it, and workdir may be private.
        base = tempfile.mkdtemp(prefix="cocalc-pg-")
        data, sockets = os.path.join(base, "data"), os.path.join(base, "sock")
        os.mkdir(sockets)
        password = secrets.token_hex(16)
        pwfile = os.path.join(base, "pw")
        with open(pwfile, "w") as fh:
            fh.write(password + "\n")
        if owner:
            entry = pwd.getpwnam(owner)
            for path in (base, sockets, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        run_as = ["runuser", "-u", owner, "--"] if owner else []
        port = _free_port()

        def run(args: List[str]) -> None:
            done = subprocess.run(run_as + args, capture_output=True, text=True)
            if done.returncode != 0:
                raise PostgresUnavailable(
                    f"{os.path.basename(args[0])} failed ({done.returncode}): "
                    f"{(done.stderr or done.stdout).strip()[-500:]}. {INSTALL_HINT}"
                )

        run([initdb, "-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale"])
        os.unlink(pwfile)
        run([pg_ctl, "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60", "-o",
             f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
             "-c synchronous_commit=off -c full_page_writes=off", "start"])
        server = cls(sockets, port, "postgres", password, data_dir=data, owner=owner)
        server._base = base
        return server

    @classmethod
    def find_or_start(cls, workdir: str) -> "PostgresServer":
        """A running server when one is usable, else a new cluster under *workdir*."""
        return cls.find() or cls.start(workdir)

    # -- using ---------------------------------------------------------------------

    def connect(self, database: str = "postgres", tcp: bool = False, user: Optional[str] = None,
                password: Optional[str] = None):
        """A pg8000 DB-API connection (autocommit off) as the superuser or *user*."""
        import pg8000.dbapi

        if user is None:
            user, password = self.user, self.password
        if tcp:
            return pg8000.dbapi.connect(user=user, database=database, host=self.host,
                                        port=self.port, password=password, timeout=10)
        return _connect(user, database, self.socket_dir, self.port, password)

    def _admin(self, sql: str, args: tuple = ()) -> None:
        conn = self.connect()
        try:
            conn.autocommit = True
            conn.cursor().execute(sql, args)
        finally:
            conn.close()

    def create_database(self, name: str, owner: Optional[str] = None) -> None:
        """CREATE DATABASE *name* (owned by *owner* when given)."""
        suffix = f" OWNER {_quote_ident(owner)}" if owner else ""
        self._admin(f"CREATE DATABASE {_quote_ident(name)}{suffix}")

    def drop_database(self, name: str) -> None:
        """DROP DATABASE *name*, ending its sessions first."""
        self._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        self._admin(f"DROP DATABASE IF EXISTS {_quote_ident(name)}")

    def create_role(self, name: str, password: str) -> None:
        """A login role with *password* that may use every database (for TCP tests)."""
        literal = "'" + password.replace("'", "''") + "'"
        self._admin(f"CREATE ROLE {_quote_ident(name)} LOGIN SUPERUSER PASSWORD {literal}")

    def drop_role(self, name: str) -> None:
        """DROP ROLE *name* if it exists."""
        self._admin(f"DROP ROLE IF EXISTS {_quote_ident(name)}")

    def stop(self) -> None:
        """Stop and remove a cluster this object started; leave a found server alone."""
        if not self._data_dir:
            return
        pg_ctl = _pg_bin("pg_ctl")
        run_as = ["runuser", "-u", self._owner, "--"] if self._owner else []
        subprocess.run(run_as + [pg_ctl, "-D", self._data_dir, "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(getattr(self, "_base", self._data_dir), ignore_errors=True)
        self._data_dir = None
