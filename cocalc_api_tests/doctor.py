"""The doctor: check, before a run, that everything the suite needs is in place.

Usage::

    python -m cocalc_api_tests.doctor          # reads the same variables as the suite

or from Python::

    >>> from cocalc_api_tests.doctor import doctor
    >>> status = doctor()                      # prints the checklist, returns 0 or 1

It prints one line per check, in this order::

    ✓ configuration: server http://localhost:5000, cleanup on, CI off
    ✓ server reachable: http://localhost:5000 answers
    ✓ API key: account 6f1c...
    ✓ site admin: org.getAll succeeds
    ✓ database: database 'smc' as user 'smc' over Unix socket /var/run/postgresql/.s.PGSQL.5432
    ✓ schema: every table and column the cleaner needs is present
    ✓ project: a temporary project started and answered system.ping; it was stopped and hard-deleted
    ✓ Jupyter: the python3 kernel is available

A line starts with ``✓`` (passed), ``✗`` (failed; the rest of the line says what
happened and how to fix it) or ``-`` (not checked: skipped on purpose, such as
the Jupyter check when ``CI`` is true, or impossible because an earlier check
failed; the line says why).  The exit status is 0 when no line starts with ``✗``.

The database checks run before the project check, because the project check
creates a temporary project (titled ``cocalc-api-tests doctor <random>``) and
removes it again: stopped through the API and hard-deleted by the suite's
cleaner when the database is usable, else at least stopped and marked deleted
through the API (the line says so).  With ``COCALC_PROJECT_ID`` set, that
project is started and pinged instead, and never deleted.

Neither the API key nor ``PGPASSWORD`` is ever printed.
"""
import io
import os
import sys
import uuid
from dataclasses import dataclass
from typing import List, Mapping, Optional, TextIO, Tuple

from . import db
from .client import Hub
from .cleanup import Cleaner
from .config import Config
from .errors import CoCalcAPIError, CoCalcConnectionError, CoCalcError, ConfigError, DatabaseError
from .ledger import Ledger, ledger_dir
from .session import PROJECT_START_WAIT, poll, project_key_scope
from .tracking import Tracker

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

KEY_FIX = (
    "create a new API key in CoCalc under Account -> Settings -> API keys (a site admin's key for the "
    "organization tests) and export it as COCALC_API_KEY"
)
ADMIN_FIX = "the org tests need a site admin's key"
JUPYTER_FIX = (
    "install ipykernel in the project (`python3 -m pip install ipykernel` in a terminal there), "
    "or set CI=true to skip the Jupyter tests"
)


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


class _Doctor:
    def __init__(self, environ: Mapping[str, str], out: TextIO):
        self.environ = environ
        self.out = out
        self.results: List[Result] = []
        raw_key = environ.get("COCALC_API_KEY", "")
        self._secrets = [s for s in {raw_key, raw_key.strip(), environ.get("PGPASSWORD", "")} if s]
        self._secrets.sort(key=len, reverse=True)

    # -- output ---------------------------------------------------------------------

    def emit(self, result: Result) -> None:
        text = result.line()
        for secret in self._secrets:
            text = text.replace(secret, "<secret>")
        self.results.append(result)
        print(text, file=self.out)
        self.out.flush()

    def skip_rest(self, names: Tuple[str, ...], why: str) -> None:
        for name in names:
            self.emit(Result(SKIP, name, f"skipped, {why}"))

    # -- the run ----------------------------------------------------------------------

    def run(self) -> int:
        try:
            config = Config.from_env(self.environ)
        except ConfigError as err:
            self.emit(Result(FAIL, CONFIGURATION, _one_line(err)))
            self.skip_rest(CHECKS[1:], "no usable configuration")
            return 1
        self.emit(Result(PASS, CONFIGURATION, self._describe(config)))
        hub = Hub(config.api_key, config.host)
        try:
            self._run(config, hub)
        finally:
            hub.close()
        return 1 if any(r.mark == FAIL for r in self.results) else 0

    def _run(self, config: Config, hub: Hub) -> None:
        scope: Optional[dict] = None
        why = "the server is unreachable"
        if self._check_server(config):
            scope = self._check_key(config)
            why = "the API key was refused"
        else:
            self.skip_rest((KEY,), why)
        if scope is None:
            self.skip_rest((ADMIN,), why)
        else:
            self.emit(self._check_admin(hub, scope))
        database_ok = self._check_database(config)
        if scope is None:
            self.skip_rest((PROJECT,), why)
            self._emit_jupyter_skip(config, why)
            return
        for result in self._check_project(config, hub, scope, database_ok):
            self.emit(result)

    @staticmethod
    def _describe(config: Config) -> str:
        parts = [f"server {config.host}"]
        if config.project_id:
            parts.append(f"project {config.project_id}")
        parts.append("cleanup on" if config.cleanup else "cleanup off")
        parts.append("CI on" if config.ci else "CI off")
        return ", ".join(parts)

    def _emit_jupyter_skip(self, config: Config, why: str) -> None:
        self.emit(_jupyter_skip(config, why))

    # -- server and key ---------------------------------------------------------------

    def _check_server(self, config: Config) -> bool:
        probe = Hub(config.api_key, config.host, http_timeout=PING_TIMEOUT)
        try:
            probe.system.ping()
        except CoCalcConnectionError as err:
            self.emit(Result(FAIL, SERVER, (
                f"no answer from {config.host} ({_one_line(err)}); start the CoCalc server, "
                "or set COCALC_HOST to its address"
            )))
            return False
        except CoCalcAPIError:
            pass  # it answered (the bridge wants a valid key even for a ping): reachable
        except Exception as err:  # never a traceback
            self.emit(Result(FAIL, SERVER, (
                f"calling {config.host} failed ({type(err).__name__}: {_one_line(err)}); start the CoCalc "
                "server, or set COCALC_HOST to its address"
            )))
            return False
        finally:
            probe.close()
        self.emit(Result(PASS, SERVER, f"{config.host} answers"))
        return True

    def _check_key(self, config: Config) -> Optional[dict]:
        probe = Hub(config.api_key, config.host, http_timeout=PING_TIMEOUT)
        try:
            scope = probe.system.test()
        except CoCalcAPIError as err:
            scope = project_key_scope(probe, config.project_id)
            if scope is None:
                self.emit(Result(FAIL, KEY, f"the server refused COCALC_API_KEY ({_one_line(err.message)}); {KEY_FIX}"))
                return None
        except Exception as err:
            self.emit(Result(FAIL, KEY, (
                f"system.test failed ({_one_line(err)}), so the key could not be checked; make sure "
                f"COCALC_HOST is a CoCalc server, or {KEY_FIX}"
            )))
            return None
        finally:
            probe.close()
        if isinstance(scope, dict) and scope.get("account_id"):
            self.emit(Result(PASS, KEY, f"account {scope['account_id']}"))
            return scope
        if isinstance(scope, dict) and scope.get("project_id"):
            self.emit(Result(PASS, KEY, f"project {scope['project_id']}"))
            return scope
        self.emit(Result(FAIL, KEY, f"system.test named neither an account nor a project ({_one_line(repr(scope))}); {KEY_FIX}"))
        return None

    def _check_admin(self, hub: Hub, scope: dict) -> Result:
        account_id = scope.get("account_id")
        if not account_id:
            return Result(FAIL, ADMIN, (
                f"{ADMIN_FIX}, but this key belongs to project {scope.get('project_id')}; create an API key "
                "while signed in as a site admin"
            ))
        try:
            hub.org.get_all()
        except CoCalcError as err:
            return Result(FAIL, ADMIN, (
                f"{ADMIN_FIX}, but org.getAll was refused ({_one_line(err)}); create the API key while signed "
                f"in as a site admin, or make account {account_id} a site admin"
            ))
        except Exception as err:
            return Result(FAIL, ADMIN, (
                f"{ADMIN_FIX}, but org.getAll failed ({type(err).__name__}: {_one_line(err)}); check the server"
            ))
        return Result(PASS, ADMIN, "org.getAll succeeds")

    # -- database -----------------------------------------------------------------------

    def _check_database(self, config: Config) -> Optional[bool]:
        """True: cleanup can run; False: it cannot; None: cleanup is disabled."""
        if not config.cleanup:
            self.emit(Result(SKIP, DATABASE, (
                "cleanup disabled (COCALC_TESTS_CLEANUP=false), so everything a run creates stays on the server"
            )))
            self.emit(Result(SKIP, SCHEMA, "skipped, cleanup disabled"))
            return None
        try:
            conn = db.connect(config)
        except DatabaseError as err:
            self.emit(Result(FAIL, DATABASE, _one_line(db.scrub(str(err), config))))
            self.skip_rest((SCHEMA,), "no database connection")
            return False
        except Exception as err:
            reason = db.scrub(f"{type(err).__name__}: {db._reason(err)}", config)
            self.emit(Result(FAIL, DATABASE, _one_line(
                f"connecting to the {config.describe_database()} failed ({reason}). {db.REMEDIES}"
            )))
            self.skip_rest((SCHEMA,), "no database connection")
            return False
        try:
            self.emit(Result(PASS, DATABASE, config.describe_database()))
            try:
                db.check_schema(conn)
            except DatabaseError as err:
                self.emit(Result(FAIL, SCHEMA, _one_line(db.scrub(str(err), config))))
                return False
            except Exception as err:
                reason = db.scrub(f"{type(err).__name__}: {db._reason(err)}", config)
                self.emit(Result(FAIL, SCHEMA, _one_line(
                    f"reading the schema failed ({reason}); check that PGUSER may read PGDATABASE's tables"
                )))
                return False
        finally:
            try:
                conn.close()
            except Exception:  # the connection may already be broken
                pass
        self.emit(Result(PASS, SCHEMA, "every table and column the cleaner needs is present"))
        return True

    # -- project and Jupyter ------------------------------------------------------------

    def _check_project(self, config: Config, hub: Hub, scope: dict, database_ok: Optional[bool]) -> List[Result]:
        """The project line and the Jupyter line (the project is removed before either is printed)."""
        if config.project_id:
            problem = _start_and_ping(hub, config.project_id, start=bool(scope.get("account_id")))
            if problem:
                project = Result(FAIL, PROJECT, f"COCALC_PROJECT_ID {problem}")
            else:
                project = Result(PASS, PROJECT, (
                    f"COCALC_PROJECT_ID {config.project_id} started and answered system.ping (it is never deleted)"
                ))
            return [project, self._check_jupyter(config, hub, None if problem else config.project_id)]
        if not scope.get("account_id"):
            project = Result(FAIL, PROJECT, (
                f"a project-scoped API key cannot create a project; set COCALC_PROJECT_ID={scope.get('project_id')}, "
                "or use an account's API key"
            ))
            return [project, self._check_jupyter(config, hub, None)]
        if database_ok is False:
            why = "the database check failed, and the doctor creates nothing it could not hard-delete"
            return [Result(SKIP, PROJECT, f"skipped, {why}"), _jupyter_skip(config, why)]
        return self._temporary_project(config, hub, scope["account_id"], database_ok)

    def _temporary_project(self, config: Config, hub: Hub, account_id: str, database_ok: Optional[bool]) -> List[Result]:
        title = PROJECT_TITLE_PREFIX + uuid.uuid4().hex[:8]
        ledger: Optional[Ledger] = None
        if database_ok:
            try:
                ledger = Ledger.for_run(config, "doctor-" + uuid.uuid4().hex[:8], ledger_dir(dict(self.environ)))
                ledger.protect(account_ids=[account_id])
            except OSError:
                ledger = None  # the ledger only guards against being killed; go on without it
        tracker = Tracker(on_add=ledger.record if ledger is not None else None)
        project_id: Optional[str] = None
        problem: Optional[str] = None
        jupyter: Optional[Result] = None
        removal: Tuple[bool, str] = (True, "")
        try:
            try:
                project_id = hub.projects.create_project(
                    title=title,
                    description="Temporary project made by the cocalc-api-tests doctor; removed when it ends.",
                )
                tracker.add("project", project_id, title=title)
            except CoCalcError as err:
                problem = (
                    f"creating a project failed ({_one_line(err)}); check that account {account_id} may create "
                    "projects, or set COCALC_PROJECT_ID to an existing project"
                )
            else:
                problem = _start_and_ping(hub, project_id)
            jupyter = self._check_jupyter(config, hub, None if problem else project_id)
        finally:
            if project_id is not None:
                removal = self._remove(config, hub, tracker, account_id, project_id, database_ok, ledger)
            elif ledger is not None:
                ledger.finish()
        removed, how = removal
        if problem is None:
            text = "a temporary project started and answered system.ping"
            project = Result(PASS if removed else FAIL, PROJECT, f"{text}; {how}" if how else text)
        else:
            text = f"the temporary {problem}" if project_id else problem
            project = Result(FAIL, PROJECT, f"{text} ({how})" if how else text)
        return [project, jupyter if jupyter is not None else self._check_jupyter(config, hub, None)]

    def _remove(
        self,
        config: Config,
        hub: Hub,
        tracker: Tracker,
        account_id: str,
        project_id: str,
        database_ok: Optional[bool],
        ledger: Optional[Ledger],
    ) -> Tuple[bool, str]:
        """Remove the temporary project: ``(completely removed, what was done)``."""
        if database_ok:
            cleaner = Cleaner(config, hub, tracker, out=io.StringIO())
            cleaner.protect(account_ids=[account_id])
            try:
                report = cleaner.run()
            except Exception as err:  # the cleaner reports most failures itself; never a traceback
                report, failure = None, f"{type(err).__name__}: {_one_line(db.scrub(db._reason(err), config))}"
            else:
                failure = ""
            if report is not None:
                entry = report.kinds.get("project")
                stop_failure = report.stop_failures.get(project_id)
                if report.complete and not stop_failure:
                    if ledger is not None:
                        ledger.finish()
                    return True, "it was stopped and hard-deleted"
                failure = _one_line(report.error or (entry.error if entry else "") or stop_failure or "unknown failure")
            where = f"; finish with `python -m cocalc_api_tests cleanup --ledger {ledger.path}`" if ledger else ""
            return False, f"project {project_id} could not be removed ({failure}){where}"
        errors = []
        for action, call in (("stop", hub.projects.stop), ("deleteProject", hub.projects.delete)):
            try:
                call(project_id)
            except CoCalcError as err:
                errors.append(f"{action}: {_one_line(err)}")
        if errors:
            return False, (
                f"project {project_id} could not be removed ({'; '.join(errors)}); delete it in CoCalc by hand"
            )
        why = "cleanup is disabled" if database_ok is None else "the database check failed"
        return True, (
            f"it was stopped and marked deleted through the API, but project {project_id} stays on the server "
            f"because {why}"
        )

    def _check_jupyter(self, config: Config, hub: Hub, project_id: Optional[str]) -> Result:
        if config.ci:
            return Result(SKIP, JUPYTER, "skipped, CI is true (the suite skips the Jupyter tests on CI)")
        if project_id is None:
            return Result(SKIP, JUPYTER, "skipped, no running project")
        try:
            kernels = hub.jupyter.kernels(project_id=project_id)
        except CoCalcError as err:
            return Result(FAIL, JUPYTER, f"listing the project's kernels failed ({_one_line(err)}); {JUPYTER_FIX}")
        except Exception as err:
            return Result(FAIL, JUPYTER, (
                f"listing the project's kernels failed ({type(err).__name__}: {_one_line(err)}); {JUPYTER_FIX}"
            ))
        names = sorted({str(k.get("name")) for k in kernels if isinstance(k, dict)}) if isinstance(kernels, list) else []
        if "python3" in names:
            return Result(PASS, JUPYTER, "the python3 kernel is available")
        return Result(FAIL, JUPYTER, f"the project has no python3 kernel (it has: {', '.join(names) or 'none'}); {JUPYTER_FIX}")


def _jupyter_skip(config: Config, why: str) -> Result:
    if config.ci:
        return Result(SKIP, JUPYTER, "skipped, CI is true (the suite skips the Jupyter tests on CI)")
    return Result(SKIP, JUPYTER, f"skipped, {why}")


def _start_and_ping(hub: Hub, project_id: str, start: bool = True) -> Optional[str]:
    """Start *project_id* (unless *start* is false) and wait for its ping; ``None``, or what went wrong and the fix."""
    try:
        if start:
            hub.projects.start(project_id)
    except CoCalcError as err:
        return (
            f"project {project_id} could not be started ({_one_line(err)}); check that the key's account "
            "collaborates on it and that the server can run projects"
        )
    client = hub.project(project_id)
    try:
        poll(client.system.ping, timeout=PROJECT_START_WAIT, what=f"ping of project {project_id}")
    except (CoCalcError, TimeoutError) as err:
        return (
            f"project {project_id} did not answer system.ping within {PROJECT_START_WAIT:g} s ({_one_line(err)}); "
            "check the server's project logs"
        )
    finally:
        client.close()
    return None


def doctor(environ: Optional[Mapping[str, str]] = None, out: Optional[TextIO] = None) -> int:
    """Check the configuration, server, key, database and a project; print one line per check.

    *environ* defaults to ``os.environ`` and *out* to ``sys.stdout``.  Returns 0 when
    no check failed (checks skipped on purpose are fine), else 1.
    """
    env = os.environ if environ is None else environ
    return _Doctor(env, out if out is not None else sys.stdout).run()


if __name__ == "__main__":
    sys.exit(doctor())
