"""The doctor: check, before a run, that everything the suite needs is in place.

Usage::

    python -m cocalc_api_tests doctor          # reads the same variables as the suite

or from Python::

    >>> from cocalc_api_tests.doctor import doctor
    >>> status = doctor()                      # prints the checklist, returns 0 or 1

It prints one line per check, in this order::

    ✓ configuration: server http://localhost:5000, cleanup on, CI off
    ✓ server reachable: http://localhost:5000 answers
    ✓ API key: account 6f1c...
    ✓ site admin: org.getAll succeeds
    ✓ database: database 'smc' as user 'smc' over Unix socket /var/run/postgresql/.s.PGSQL.5432
    ✓ schema: every table, column and privilege the cleaner needs is present
    ✓ project: a temporary project started and answered system.ping; it was stopped and hard-deleted
    ✓ Jupyter: the python3 kernel is available

A line starts with ``✓`` (passed), ``✗`` (failed; the rest of the line says what
happened and how to fix it) or ``-`` (not checked: skipped on purpose, such as
the Jupyter check when ``CI`` is true, or impossible because an earlier check
failed; the line says why).  A key of an account that is no site admin is fine:
``- site admin: not a site admin's key: N admin-only tests will skip``; so is a key scoped to
``COCALC_PROJECT_ID``, whose line says what a run with it does (:func:`project_key_line`).  The
exit status is 0 when no line starts with ``✗``.

The doctor uses the suite's own pieces: the session's key check and
start-then-ping (:func:`~cocalc_api_tests.session.check_key`,
:func:`~cocalc_api_tests.session.start_and_ping`) and a :class:`Custody` for
its temporary project (titled ``cocalc-api-tests doctor <random>``), which is
stopped and hard-deleted by the suite's cleaner — or, when cleanup is disabled,
stopped and marked deleted through the API (the line says so).  The database
checks run first: when they fail, the doctor creates nothing.  With
``COCALC_PROJECT_ID`` set, that project is started and pinged instead, and
never deleted.  Neither the API key nor ``PGPASSWORD`` is ever printed.
"""
import io
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Callable, List, Mapping, Optional, TextIO, Tuple

from . import db
from .client import Hub
from .config import Config
from .custody import Custody
from .errors import AdminSignalsDisagree, CoCalcAPIError, CoCalcError, ConfigError, KeyRefused
from .text import redact
from .session import ask_site_admin, check_key, start_and_ping

#: Seconds the reachability and key checks wait for an answer.
PING_TIMEOUT = 15.0
#: Title prefix of the doctor's temporary project.
PROJECT_TITLE_PREFIX = "cocalc-api-tests doctor "

PASS, FAIL, SKIP = "✓", "✗", "-"

CONFIGURATION = "configuration"
SERVER = "server reachable"
KEY = "API key"
ADMIN = "site admin"
DATABASE = "database"
SCHEMA = "schema"
PROJECT = "project"
JUPYTER = "Jupyter"
#: Every check, in the order the lines are printed.
CHECKS = (CONFIGURATION, SERVER, KEY, ADMIN, DATABASE, SCHEMA, PROJECT, JUPYTER)

SERVER_FIX = "start the CoCalc server, or set COCALC_HOST to its address"
KEY_FIX = (
    "create a new API key in CoCalc under Account -> Settings -> API keys (a site admin's key for the "
    "organization tests) and export it as COCALC_API_KEY"
)
JUPYTER_FIX = (
    "install ipykernel in the project (`python3 -m pip install ipykernel` in a terminal there), "
    "or set CI=true to skip the Jupyter tests"
)
CI_SKIP = "skipped, CI is true (the suite skips the Jupyter tests on CI)"


@dataclass
class Result:
    """The outcome of one check: its mark (:data:`PASS`, :data:`FAIL`, :data:`SKIP`) and text."""

    mark: str
    name: str
    text: str = ""

    def line(self) -> str:
        return f"{self.mark} {self.name}: {self.text}" if self.text else f"{self.mark} {self.name}"


def _one_line(text: object) -> str:
    """*text* on one line (server and library texts may hold newlines)."""
    return " ".join(str(text).split())


def failed(name: str, what: str, err: BaseException, fix: str = "") -> Result:
    """The ✗ line of check *name*: *what* failed, the error in brackets, then the fix.

    Without *what*, the error's own text is the line (the suite's errors say what to do).
    This is the one place where an exception becomes a line of the checklist.
    """
    reason = _one_line(err if isinstance(err, (CoCalcError, ConnectionError)) else f"{type(err).__name__}: {err}")
    if not what:
        return Result(FAIL, name, reason)
    return Result(FAIL, name, f"{what} ({reason}); {fix}" if fix else f"{what} ({reason})")


class _Doctor:
    def __init__(self, environ: Mapping[str, str], out: TextIO):
        self.environ = environ
        self.out = out
        self.results: List[Result] = []
        self._secrets: Tuple[Optional[str], ...] = ()  # the configuration's key and password, once it is read
        self._project_key = False  # the key is scoped to a project (the hub refuses it)

    def emit(self, result: Result) -> None:
        self.results.append(result)
        print(redact(result.line(), *self._secrets), file=self.out)
        self.out.flush()

    def skip(self, names: Tuple[str, ...], why: str) -> None:
        for name in names:
            self.emit(Result(SKIP, name, f"skipped, {why}"))

    def attempt(self, name: str, what: str, fix: str, check: Callable[[], Result]) -> Optional[Result]:
        """Run *check*; emit its result, or the ✗ line of the error it raised (never a traceback)."""
        try:
            result = check()
        except Exception as err:  # every failure becomes one line
            result = failed(name, what, err, fix)
        self.emit(result)
        return result

    # -- the run ----------------------------------------------------------------------

    def run(self) -> int:
        try:
            config = Config.from_env(self.environ)
        except ConfigError as err:
            self.emit(Result(FAIL, CONFIGURATION, _one_line(err)))
            self.skip(CHECKS[1:], "no usable configuration")
            return 1
        self._secrets = (config.api_key, config.pgpassword)
        self.emit(Result(PASS, CONFIGURATION, _describe(config)))
        hub = Hub(config.api_key, config.host, http_timeout=PING_TIMEOUT)
        try:
            self._run(config, hub)
        finally:
            hub.close()
        return 1 if any(r.mark == FAIL for r in self.results) else 0

    def _run(self, config: Config, hub: Hub) -> None:
        scope: Optional[dict] = None
        if not self._reachable(config, hub):
            why = "the server is unreachable"
            self.skip((KEY, ADMIN), why)
        else:
            why = "the API key was refused"
            scope = self._key(config, hub)
            self._project_key = scope is not None and not scope.get("account_id")
            if scope is None:
                self.skip((ADMIN,), why)
            else:
                self.emit(self._admin(config, hub, scope))
        database_ok = self._database(config)
        if scope is None:
            self.skip((PROJECT,), why)
            self.emit(_jupyter_skip(config, why))
            return
        for result in self._project(config, hub, scope, database_ok):
            self.emit(result)

    # -- server and key ---------------------------------------------------------------

    def _reachable(self, config: Config, hub: Hub) -> bool:
        try:
            hub.system.ping()
        except CoCalcAPIError:
            pass  # it answered (the bridge wants a valid key even for a ping): reachable
        except Exception as err:
            self.emit(failed(SERVER, f"no answer from {config.host}", err, SERVER_FIX))
            return False
        self.emit(Result(PASS, SERVER, f"{config.host} answers"))
        return True

    def _key(self, config: Config, hub: Hub) -> Optional[dict]:
        try:
            scope = check_key(hub, config, wait=PING_TIMEOUT)
        except KeyRefused as err:
            self.emit(failed(KEY, "the server refused COCALC_API_KEY", CoCalcError(err.answer), KEY_FIX))
            return None
        except Exception as err:
            self.emit(failed(KEY, "system.test failed, so the key could not be checked", err, KEY_FIX))
            return None
        if scope.get("account_id"):
            self.emit(Result(PASS, KEY, f"account {scope['account_id']}"))
        else:
            self.emit(Result(PASS, KEY, f"project {scope['project_id']}"))
        return scope

    @staticmethod
    def _admin(config: Config, hub: Hub, scope: dict) -> Result:
        """The suite's own decision (:func:`~cocalc_api_tests.session.ask_site_admin`); another account's key is fine."""
        account_id = scope.get("account_id")
        if not account_id:
            return Result(SKIP, ADMIN, project_key_line(scope["project_id"]))
        try:
            admin = ask_site_admin(hub, config)
        except AdminSignalsDisagree as err:
            return failed(ADMIN, "", err)
        except Exception as err:
            return failed(ADMIN, "db.userQuery or org.getAll failed, so whether the key is a site admin's is unknown",
                          err, "check the server's logs")
        if admin:
            return Result(PASS, ADMIN, "org.getAll succeeds")
        return Result(SKIP, ADMIN, f"not a site admin's key: {admin_only_count()} admin-only tests will skip")

    # -- database -----------------------------------------------------------------------

    def _database(self, config: Config) -> Optional[bool]:
        """True: cleanup can run; False: it cannot; None: cleanup is disabled."""
        if not config.cleanup:
            self.emit(Result(SKIP, DATABASE, (
                "cleanup disabled (COCALC_TESTS_CLEANUP=false), so everything a run creates stays on the server"
            )))
            self.emit(Result(SKIP, SCHEMA, "skipped, cleanup disabled"))
            return None
        try:
            db.connect(config).close()
        except Exception as err:
            self.emit(failed(DATABASE, "" if isinstance(err, CoCalcError) else f"connecting to the {config.describe_database()} failed", err))
            self.skip((SCHEMA,), "no database connection")
            return False
        self.emit(Result(PASS, DATABASE, config.describe_database()))
        result = self.attempt(SCHEMA, "", "", lambda: _schema(config))
        return result is not None and result.mark == PASS

    # -- project and Jupyter ------------------------------------------------------------

    def _project(self, config: Config, hub: Hub, scope: dict, database_ok: Optional[bool]) -> List[Result]:
        """The project line and the Jupyter line (the project is removed before either is printed)."""
        if config.project_id:
            try:
                start_and_ping(hub, config.project_id, start=bool(scope.get("account_id"))).close()
            except Exception as err:
                project = failed(PROJECT, f"COCALC_PROJECT_ID {config.project_id} could not be started and pinged", err, (
                    "check that the key's account collaborates on it and that the server can run projects"
                ))
                return [project, self._jupyter(config, hub, None)]
            project = Result(PASS, PROJECT, (
                f"COCALC_PROJECT_ID {config.project_id} started and answered system.ping (it is never deleted)"
            ))
            return [project, self._jupyter(config, hub, config.project_id)]
        if not scope.get("account_id"):
            project = Result(FAIL, PROJECT, (
                f"a project-scoped API key cannot create a project; set COCALC_PROJECT_ID={scope.get('project_id')}, "
                "or use an account's API key"
            ))
            return [project, self._jupyter(config, hub, None)]
        if database_ok is False:
            why = "the database check failed, and the doctor creates nothing it could not hard-delete"
            return [Result(SKIP, PROJECT, f"skipped, {why}"), _jupyter_skip(config, why)]
        return self._temporary_project(config, hub, scope["account_id"])

    def _temporary_project(self, config: Config, hub: Hub, account_id: str) -> List[Result]:
        custody = Custody(config, hub, "doctor-" + uuid.uuid4().hex[:8], out=io.StringIO())
        custody.protect(account_ids=[account_id])
        title = PROJECT_TITLE_PREFIX + uuid.uuid4().hex[:8]
        project: Optional[Result] = None
        jupyter: Optional[Result] = None
        try:
            project_id = custody.create("project", {"title": title}, lambda: hub.projects.create_project(
                title=title, description="Temporary project made by the cocalc-api-tests doctor; removed when it ends.",
            ))
        except Exception as err:
            project = failed(PROJECT, "creating a project failed", err, (
                f"check that account {account_id} may create projects, or set COCALC_PROJECT_ID to an existing project"
            ))
            project_id = None
        if project_id is not None:
            try:
                start_and_ping(hub, project_id).close()
            except Exception as err:
                project = failed(PROJECT, f"the temporary project {project_id} did not start and answer system.ping", err,
                                 "check the server's project logs")
            else:
                jupyter = self._jupyter(config, hub, project_id)
        removed, how = self._remove(config, hub, custody, project_id)
        if project is None:
            text = "a temporary project started and answered system.ping"
            project = Result(PASS if removed else FAIL, PROJECT, f"{text}; {how}")
        elif how:
            project.text += f" ({how})"
        return [project, jupyter or self._jupyter(config, hub, None)]

    @staticmethod
    def _remove(config: Config, hub: Hub, custody: Custody, project_id: Optional[str]) -> Tuple[bool, str]:
        """Remove the temporary project: ``(completely removed, what was done)``."""
        if config.cleanup:
            try:
                report = custody.close()
            except Exception as err:  # the cleaner reports most failures itself; never a traceback
                return False, f"the cleanup failed ({_one_line(err)})"
            if report is not None and report.complete and not report.stop_failures:
                return True, "it was stopped and hard-deleted" if project_id else ""
            ledger = custody.ledger.path if custody.ledger is not None else None
            where = f"; finish with `python -m cocalc_api_tests cleanup --ledger {ledger}`" if ledger else ""
            why = report.lines() if report is not None else ["no report"]
            return False, f"project {project_id} could not be removed ({_one_line(' '.join(why))}){where}"
        if project_id is None:
            return True, ""
        errors = []
        for action, call in (("stop", hub.projects.stop), ("deleteProject", hub.projects.delete)):
            try:
                call(project_id)
            except CoCalcError as err:
                errors.append(f"{action}: {_one_line(err)}")
        if errors:
            return False, f"project {project_id} could not be removed ({'; '.join(errors)}); delete it in CoCalc by hand"
        return True, (
            f"it was stopped and marked deleted through the API, but project {project_id} stays on the server "
            "because cleanup is disabled"
        )

    def _kernel_specs(self, hub: Hub, project_id: str) -> object:
        """The kernel specs of *project_id*: through the hub, or its own endpoint for a project-scoped key."""
        if not self._project_key:
            return hub.jupyter.kernels(project_id=project_id)
        client = hub.project(project_id)
        try:
            return client.editor.jupyter_kernels()
        finally:
            client.close()

    def _jupyter(self, config: Config, hub: Hub, project_id: Optional[str]) -> Result:
        if config.ci:
            return Result(SKIP, JUPYTER, CI_SKIP)
        if project_id is None:
            return Result(SKIP, JUPYTER, "skipped, no running project")
        try:
            kernels = self._kernel_specs(hub, project_id)
        except Exception as err:
            return failed(JUPYTER, "listing the project's kernels failed", err, JUPYTER_FIX)
        names = sorted({str(k.get("name")) for k in kernels if isinstance(k, dict)}) if isinstance(kernels, list) else []
        if "python3" in names:
            return Result(PASS, JUPYTER, "the python3 kernel is available")
        return Result(FAIL, JUPYTER, f"the project has no python3 kernel (it has: {', '.join(names) or 'none'}); {JUPYTER_FIX}")


def project_key_line(project_id: str) -> str:
    """The site-admin line's text for a key scoped to *project_id*: what a run with it does."""
    return (
        f"a key of project {project_id}, not an account's: only the tests on that project's endpoint run; every test "
        "that needs an account's key (CoCalc's hub refuses project-scoped keys) skips, saying so"
    )


def admin_only_count() -> int:
    """How many tests of the suite skip for a key that is not a site admin's."""
    import unittest

    from .support import admin_only_tests  # the test helpers sit above the doctor's own pieces

    return len(admin_only_tests(unittest.TestLoader().loadTestsFromName(__package__)))


def _describe(config: Config) -> str:
    parts = [f"server {config.host}"]
    if config.project_id:
        parts.append(f"project {config.project_id}")
    parts.append("cleanup on" if config.cleanup else "cleanup off")
    parts.append("CI on" if config.ci else "CI off")
    return ", ".join(parts)


def _schema(config: Config) -> Result:
    """The cleaner's own preflight (tables, columns, privileges), as a checklist line."""
    Custody(config, None, "doctor", ledger=False).preflight()
    return Result(PASS, SCHEMA, "every table, column and privilege the cleaner needs is present")


def _jupyter_skip(config: Config, why: str) -> Result:
    return Result(SKIP, JUPYTER, CI_SKIP if config.ci else f"skipped, {why}")


def doctor(environ: Optional[Mapping[str, str]] = None, out: Optional[TextIO] = None) -> int:
    """Check the configuration, server, key, database and a project; print one line per check.

    *environ* defaults to ``os.environ`` and *out* to ``sys.stdout``.  Returns 0 when
    no check failed (checks skipped on purpose are fine), else 1.
    """
    env = os.environ if environ is None else environ
    return _Doctor(env, out if out is not None else sys.stdout).run()


if __name__ == "__main__":
    sys.exit(doctor())
