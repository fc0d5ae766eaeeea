"""Who may do what: every row of :mod:`cocalc_api_tests.matrix`, as every actor, both halves of each verdict.

Each (call, actor) cell is a subtest named ``call × actor``.  An allowed cell checks the
call's effect; a refused cell checks CoCalc's exact text and that the owner (or the site
admin) reads back the same state as before.  A refusal that is missing, or a refused call
that changed something anyway, fails with a message starting ``SECURITY:``, and is listed
apart at the end of the run.  Cells named in ``COCALC_TESTS_KNOWN_HOLES`` run as tests of
their own marked as expected failures: a hole that is fixed turns into an unexpected
success, which fails the run.

The actors are made in the background from the module's set-up (site admins only: only
they may make accounts through the API); the other test modules run meanwhile.
"""
import sys
import time
import unittest
from typing import Any, Dict, Optional, Tuple

from . import security
from .actors import ACCOUNTS, DEAD_KEY_WINDOWS, DEAD_KEYS, DEAD_PROJECT_KEYS, WINDOW_SLACK, Actors
from .config import known_holes_from_env
from .errors import CoCalcAPIError, CoCalcConnectionError, CoCalcError
from .matrix import RULES, Allow, Cell, Ctx, NoEffect, NotApplicable, Refuse, Rule, cells, dead_key_refusal
from .poll import poll
from .session import Session, get_session
from .support import EVENTUAL_WAIT, APITestCase, requires_site_admin
from .text import brief, redact
from .wordings import NO_KEY, NOT_PROJECT_COLLABORATOR, PROJECT_NO_KEY

#: Why an allowed cell of a call that needs a kernel or a tool does not run with ``CI=true``.
SLOW_SKIP_REASON = "CI=true: this call needs a kernel or a tool CI machines lack"
#: Background job that makes the actors.
CAST_JOB = "authorization actors"
#: Background job that waits for one dead key to stop working (``%`` its name): each key has its own window.
DEAD_JOB = "dead key %s stops working"
#: Milliseconds a project-endpoint cell may wait for the project (a timeout means it got past the bridge).
PROJECT_CALL_MS = 15000
#: Texts by which a bridge refuses; any other answer of the project endpoint came from the project.
BRIDGE_REFUSALS = (NOT_PROJECT_COLLABORATOR, PROJECT_NO_KEY, NO_KEY)


def start_cast(session: Session) -> Any:
    """Begin making the actors in the background (once, site admins only), then watching each dead key; the cast's job."""
    cast = session.background.submit(CAST_JOB, lambda: Actors.make(session))
    for actor in DEAD_KEYS:
        session.background.submit(DEAD_JOB % actor, lambda actor=actor: dead_key_settled(cast.result(), actor))
    return cast


def watch_dead_key(session: Session, actor: str) -> Any:
    """The job watching *actor*'s dead key (the cast's jobs are started first if nobody did)."""
    start_cast(session)
    return session.background.get(DEAD_JOB % actor)


def setUpModule() -> None:
    session = get_session()
    if session.is_site_admin:
        start_cast(session)


def steady(read: Any, what: str) -> Any:
    """*read()*, asked again while the server answers that it is busy (never when it refuses)."""
    return poll(read, timeout=EVENTUAL_WAIT, what=what)


def dead_key_settled(cast: Actors, actor: str) -> Optional[float]:
    """Seconds after its death at which *actor*'s key was first refused (``None``: it still worked when its window ended)."""
    killed = cast.world.killed_at.get(actor, time.time())
    refused = _refused_by(cast, actor, killed + DEAD_KEY_WINDOWS.get(actor, 0.0) + WINDOW_SLACK)
    return None if refused is None else max(0.0, refused - killed)


def _refused_by(cast: Actors, actor: str, deadline: float) -> Optional[float]:
    """The time *actor*'s key was first refused, polling until *deadline*; ``None`` if it never was."""
    client = cast.project(actor) if actor in DEAD_PROJECT_KEYS else cast.hub(actor)
    while True:
        now = time.time()
        try:
            client.system.ping()
        except CoCalcAPIError as err:
            if not err.transient:
                return now
        if now >= deadline:
            return None
        time.sleep(0.5)


class AuthzTestCase(APITestCase):
    """Runs the cells of the rules in :attr:`rules` (one subtest each)."""

    rules: Tuple[Rule, ...] = ()
    #: For the command line's runner: the cells wait for the actors and the dead keys' windows, which the
    #: background work of ``setUpModule`` runs meanwhile, so these classes start after the other modules'.
    run_late = True

    @property
    def cast(self) -> Actors:
        return self.prepared(CAST_JOB, lambda: start_cast(self.session))

    def run_rules(self) -> None:  # no docstring: unittest would print it in place of each cell's name
        known = set(known_holes_from_env())
        cast = self.cast
        shared: Dict[int, Dict[str, Any]] = {}
        # The dead keys' cells last: they wait for the keys' windows, while the others need not.
        for cell in sorted(cells(self.rules), key=lambda c: c.key_actor in DEAD_KEYS):
            if cell.id in known:
                continue  # run by its own expected-failure test
            with self.subTest(cell=cell.id):
                self.check_cell(cast, cell, shared)

    def check_cell(self, cast: Actors, cell: Cell, shared: Dict[int, Dict[str, Any]]) -> None:
        """One cell: the attempt as the cell's actor, judged by the rule's outcome."""
        rule, actor, outcome = cell.rule, cell.key_actor, cell.outcome
        if isinstance(outcome, NotApplicable):
            self.skipTest(outcome.reason)
        if isinstance(outcome, Allow) and rule.slow and self.session.config.ci:
            self.skipTest(SLOW_SKIP_REASON)
        if actor in DEAD_KEYS and not (actor in DEAD_PROJECT_KEYS and rule.endpoint == "hub"):
            self.require_dead(actor)
        ctx = Ctx(cast, actor, {}, outcome)
        if rule.setup is not None:
            # What may change gets a target of its own (an allowed call, or a door whose hole is the change);
            # refusals change nothing and share one per row.
            if isinstance(outcome, Refuse) and id(rule) in shared:
                ctx.target = shared[id(rule)]
            else:
                ctx.target = steady(lambda: rule.setup(ctx), f"setting up {cell.id}")
                if isinstance(outcome, Refuse):
                    shared[id(rule)] = ctx.target
        before = steady(lambda: rule.observe(ctx), f"reading back {cell.id}") if rule.observe else None
        args = rule.args(ctx)
        answer, error = self.attempt(cast, ctx, rule, args)
        after = steady(lambda: rule.observe(ctx), f"reading back {cell.id}") if rule.observe else None
        said = f"{actor} calling {rule.call}({redact(brief(repr(args)[1:-1], 300), *cast.secrets())})"
        if isinstance(outcome, Allow):
            self.judge_allowed(cell, ctx, said, before, after, answer, error)
        elif isinstance(outcome, Refuse):
            self.judge_refused(cell, said, outcome, before, after, answer, error)
        elif isinstance(outcome, NoEffect):
            self.judge_no_effect(ctx, cell, said, outcome, before, after, answer, error)

    def attempt(self, cast: Actors, ctx: Ctx, rule: Rule, args: Any) -> Tuple[Any, Optional[str]]:
        """``(answer, None)`` or ``(None, error text)``, retried only while the server is busy.

        On the project endpoint a timeout is an answer: the call got past the bridge.
        """
        if rule.endpoint == "project":
            client = cast.project(ctx.actor, ctx.project_id)
            retry_on: Tuple[type, ...] = (CoCalcConnectionError,)
            timeout_ms: Optional[int] = PROJECT_CALL_MS
        else:
            client, retry_on, timeout_ms = cast.hub(ctx.actor), (CoCalcError,), None
        def call() -> Any:
            return poll(lambda: client.call(rule.call, args, timeout_ms), timeout=EVENTUAL_WAIT, retry_on=retry_on, what=rule.call)

        try:
            if rule.creates is None:
                return call(), None
            kind, key = rule.creates(ctx)  # tracked before the call: what a hole lets through is cleaned too
            return self.session.custody.create(kind, key, call), None
        except CoCalcAPIError as err:
            return None, err.message

    def judge_allowed(self, cell: Cell, ctx: Ctx, said: str, before: Any, after: Any, answer: Any, error: Optional[str]) -> None:
        rule = cell.rule
        if error is not None and not (rule.endpoint == "project" and error not in BRIDGE_REFUSALS):
            self.fail(f"{said} was refused ({error!r}), but CoCalc's rules let {ctx.actor} make it")
        if error is None and rule.effect is not None:
            problem = rule.effect(ctx, before, after, answer)
            if problem and rule.effect_is_security:
                self.security(cell, f"{said}: {problem}")
            if problem:
                self.fail(f"{said} had no effect: {problem}")

    def judge_refused(self, cell: Cell, said: str, outcome: Refuse, before: Any, after: Any, answer: Any, error: Optional[str]) -> None:
        if error is None:
            self.security(cell, f"{said} answered {brief(repr(answer), 200)}; CoCalc's rule: refused with {outcome.text!r}"
                          + self.changes(before, after))
        if before != after:
            self.security(cell, f"{said} was refused ({error!r}), yet it changed what it must not" + self.changes(before, after))
        matches = error.startswith(outcome.text) if outcome.prefix else error == outcome.text
        self.assertTrue(matches, f"{said} was refused with {error!r}; CoCalc's text is {outcome.text!r}")

    def judge_no_effect(self, ctx: Ctx, cell: Cell, said: str, outcome: NoEffect, before: Any, after: Any, answer: Any,
                        error: Optional[str]) -> None:
        if before != after:
            self.security(cell, f"{said} ({'refused: ' + repr(error) if error else 'answered'}) changed what it must not: "
                          f"{outcome.why}" + self.changes(before, after))
        if error is None and cell.rule.leaks is not None and cell.rule.leaks(ctx, answer):
            self.security(cell, f"{said} answered {brief(repr(answer), 200)}: {outcome.why}")

    @staticmethod
    def changes(before: Any, after: Any) -> str:
        return "" if before == after else f"; before: {brief(repr(before), 200)}, after: {brief(repr(after), 200)}"

    def security(self, cell: Cell, message: str) -> None:
        self.fail(security.report(f"{self.id()} [{cell.id}]", message))

    def dead_key_seconds(self, actor: str) -> Optional[float]:
        """Seconds *actor*'s dead key went on working (waits for its own window only)."""
        return self.prepared(DEAD_JOB % actor, lambda: watch_dead_key(self.session, actor))

    def require_dead(self, actor: str) -> None:
        """Wait until *actor*'s key has had its window; fail (SECURITY) if it still works."""
        if self.dead_key_seconds(actor) is None:
            window = DEAD_KEY_WINDOWS.get(actor, 0.0)
            self.fail(security.report(
                f"{self.id()} [{actor}]",
                f"the {actor} key still works {window + WINDOW_SLACK:g} s after it was made dead (CoCalc's cache allows {window:g} s)",
            ))


#: Rows per generated test class: classes run concurrently, so smaller ones finish sooner.
ROWS_PER_CLASS = 4


def _matrix_classes() -> Dict[str, type]:
    """One test class per group of :data:`ROWS_PER_CLASS` rows of the same call group and endpoint."""
    made: Dict[str, type] = {}
    groups: Dict[str, list] = {}
    for rule in RULES:
        group = ("Project" if rule.endpoint == "project" else "Hub") + rule.call.split(".")[0].capitalize()
        groups.setdefault(group, []).append(rule)
    for group, rules in groups.items():
        for n in range(0, len(rules), ROWS_PER_CLASS):
            name = f"Test{group}Authz{n // ROWS_PER_CLASS + 1}"
            made[name] = requires_site_admin(type(name, (AuthzTestCase,), {
                "rules": tuple(rules[n:n + ROWS_PER_CLASS]),
                "test_matrix": AuthzTestCase.run_rules,
                "__doc__": "Authorization cells of " + ", ".join(r.name for r in rules[n:n + ROWS_PER_CLASS]) + ".",
                "__module__": __name__,
            }))
    return made


MATRIX_CLASSES = _matrix_classes()
globals().update(MATRIX_CLASSES)


@requires_site_admin
class TestKeyLifecycle(AuthzTestCase):
    """The keys that must not work stop working, each within CoCalc's cache window (measured and reported)."""

    def test_dead_keys_stop_within_their_windows(self) -> None:
        cast = self.cast
        settled = {actor: self.dead_key_seconds(actor) for actor in DEAD_KEYS}
        shown = ", ".join(f"{a} {'never' if t is None else f'{t:.1f} s'}" for a, t in settled.items())
        print(f"cocalc-api-tests: dead keys first refused after: {shown}", file=sys.stderr)
        for actor in DEAD_KEYS:
            with self.subTest(key=actor):
                if settled[actor] is None:
                    self.require_dead(actor)
                window = DEAD_KEY_WINDOWS.get(actor, 0.0) + WINDOW_SLACK
                self.assertLessEqual(settled[actor], window, f"the {actor} key worked {settled[actor]:.1f} s after it died")
                for endpoint, client in (("hub", cast.hub(actor)), ("project", cast.project(actor))):
                    with self.subTest(key=actor, endpoint=endpoint):
                        try:
                            answer = client.system.ping()
                        except CoCalcAPIError as err:
                            self.assertEqual(err.message, dead_key_refusal(actor, endpoint))
                        else:
                            self.fail(security.report(f"{self.id()} [{actor}]",
                                                      f"the {actor} key works on the {endpoint} bridge: system.ping answered {answer!r}"))

    def test_actors_are_who_they_say(self) -> None:
        """Each ordinary actor's key names its own account, and none is a site admin."""
        cast = self.cast
        for actor in ACCOUNTS:
            with self.subTest(actor=actor):
                scope = self.call(cast.hub(actor).system.test)
                self.assertEqual(scope.get("account_id"), cast.account_id(actor))
                groups = self.call(cast.hub(actor).db.query, {"accounts": {"groups": None}})["accounts"].get("groups") or []
                self.assertNotIn("admin", groups, f"{actor} is a site admin")


def _known_hole_test(cell: Cell) -> Any:
    def test(self: AuthzTestCase) -> None:
        self.check_cell(self.cast, cell, {})

    test.__doc__ = f"Known hole (COCALC_TESTS_KNOWN_HOLES): {cell.id}"
    return unittest.expectedFailure(test)


def _add_known_holes() -> None:
    """One expected-failure test per cell named in ``COCALC_TESTS_KNOWN_HOLES``; unknown names are an error."""
    by_id = {c.id: c for c in cells()}
    classes = list(MATRIX_CLASSES.values())
    for n, cell_id in enumerate(known_holes_from_env(), 1):
        cell = by_id.get(cell_id)
        if cell is None:
            raise CoCalcError(
                f"COCALC_TESTS_KNOWN_HOLES names {cell_id!r}, which is no cell of the authorization matrix; cells are "
                "named 'call × actor' (or 'call [variant] × actor') as the subtests are."
            )
        owner = next(c for c in classes if cell.rule in c.rules)
        setattr(owner, f"test_known_hole_{n:02d}", _known_hole_test(cell))


_add_known_holes()
