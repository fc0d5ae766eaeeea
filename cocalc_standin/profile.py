"""How fast the stand-in answers: named timing profiles and the time scale.

* ``fast`` (the default): as quick as the machine allows.
* ``real``: what was measured on a real CoCalc hub (single-user mode, on
  loopback; ``cocalc-reference/README.md`` and its wire samples, issue 9):

  - every hub call costs ~0.02 s and every project call ~0.03 s beyond its
    work (the ~10 s a hand-built server in Next.js dev mode takes for its first
    request to each endpoint is not modelled: production CoCalc serves built pages);
  - a project process takes ~1.5 s to come up, and ``projects.start`` polls for
    it on CoCalc's schedule (0.25 s growing by 1.25), so a start, and anything
    that starts a project (the project bridge, ``projects.touch``,
    ``createProject`` with ``start``), returns after ~1.8 s;
  - a project process ignores SIGTERM, so ``projects.stop`` polls until the
    SIGKILL that follows 5 s later has ended it: ~8 s;
  - ``copyPathBetweenProjects`` costs ~0.07 s (CoCalc runs rsync);
  - Jupyter stalls: the first executions of a freshly started project, and the
    first ones after a kernel was stopped, never get an answer (up to two in a
    row); their callers time out;
  - CoCalc's caches (``database/pool/cached.ts`` and its kin, :mod:`.cached`): a
    change of who collaborates on a project or who is a site admin may take 30 s
    to show in the checks that read it, a deleted (or re-dated) API key or
    sign-in cookie keeps working for up to 15 s, the user-query checks' own reads
    may be 5 s old, and a ban takes up to 60 s to bite (10 min to lift).
    ``fast`` caches nothing.

``COCALC_STANDIN_TIME_SCALE`` (default 1, a positive number) multiplies every
latency and every stall of the profile, so ``0.05`` runs ``real`` twenty times
faster.  A stalled call is compressed too: it ends after the time its caller
would wait (the request's ``timeout``, or the hub's 60 s) times the scale, with
the answer that caller gives on a timeout.  Timeouts of calls that do answer,
and CoCalc's own limits, are never scaled.
"""
import dataclasses
import math
import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Mapping, Optional

#: Environment variable holding the time scale.
SCALE_VARIABLE = "COCALC_STANDIN_TIME_SCALE"
DEFAULT_PROFILE = "fast"


class ProfileError(Exception):
    """A bad profile name or time scale; ``str()`` is one paragraph saying what to do."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """A named set of latencies (seconds at scale 1) and behaviours, and the scale applied to them."""

    name: str
    scale: float = 1.0
    #: Added to every hub and project call (outside the call's own ``timeout``).
    hub_latency: float = 0.0
    project_latency: float = 0.0
    #: From a project process's launch until it is up.
    project_startup: float = 0.0
    #: Whether a project process ignores SIGTERM (a stop then waits for the SIGKILL 5 s later).
    ignores_sigterm: bool = False
    #: First interval and growth factor of the polling while a project starts or stops.
    poll_first: float = 0.05
    poll_growth: float = 1.0
    #: ``copyPathBetweenProjects``, beyond copying the files.
    copy_latency: float = 0.0
    #: Jupyter executions that never answer after a project starts or a kernel is stopped.
    jupyter_stalls: int = 0
    #: How long CoCalc's cached reads may be stale (:mod:`.cached`): ``long`` (membership, admin groups),
    #: ``medium`` (API keys, sign-in cookies) and the database object's query cache (user-query checks).
    cache_long: float = 0.0
    cache_medium: float = 0.0
    cache_query: float = 0.0
    #: How long ``isBanned`` remembers an account is not banned, and that it is.
    ban_notice: float = 0.0
    ban_lift: float = 0.0

    def seconds(self, seconds: float) -> float:
        """*seconds* of this profile on the wall clock (times the scale)."""
        return seconds * self.scale

    def pause(self, seconds: float) -> None:
        """Wait *seconds* of this profile (a deliberate latency)."""
        if seconds > 0:
            time.sleep(self.seconds(seconds))

    def poll_intervals(self) -> Iterator[float]:
        """Wall-clock waits between the checks of a starting or stopping project (CoCalc's ``until``)."""
        interval = self.poll_first
        while True:
            interval *= self.poll_growth
            yield self.seconds(interval)

    def scaled(self, scale: float) -> "Profile":
        """This profile at time scale *scale*."""
        return dataclasses.replace(self, scale=scale)


PROFILES: Dict[str, Profile] = {
    "fast": Profile("fast"),
    "real": Profile(
        "real",
        hub_latency=0.02,
        project_latency=0.03,
        project_startup=1.5,
        ignores_sigterm=True,
        poll_first=0.25,
        poll_growth=1.25,
        copy_latency=0.07,
        jupyter_stalls=2,
        cache_long=30.0,
        cache_medium=15.0,
        cache_query=5.0,
        ban_notice=60.0,
        ban_lift=600.0,
    ),
}


def names() -> List[str]:
    """The profile names, default first."""
    return sorted(PROFILES, key=lambda n: (n != DEFAULT_PROFILE, n))


def parse_scale(text: Optional[str]) -> float:
    """The time scale in *text* (unset or empty: 1)."""
    if text is None or not text.strip():
        return 1.0
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise ProfileError(
            f"{SCALE_VARIABLE}={text!r} is not a positive number. It multiplies every latency and stall of the "
            f"stand-in's profile (e.g. 0.05 runs the 'real' profile twenty times faster); unset it to use 1."
        )
    return scale


def get_profile(name: str = DEFAULT_PROFILE, scale: float = 1.0) -> Profile:
    """Profile *name* at time scale *scale*."""
    if name not in PROFILES:
        raise ProfileError(f"unknown stand-in profile {name!r}; the profiles are: {', '.join(names())}.")
    return PROFILES[name].scaled(scale)


def profile_from_env(name: str, environ: Mapping[str, str]) -> Profile:
    """Profile *name* at the scale named by ``COCALC_STANDIN_TIME_SCALE`` in *environ*."""
    return get_profile(name, parse_scale(environ.get(SCALE_VARIABLE)))


# ------------------------------------------------------------------- waited-for calls


class Call:
    """A call someone waits for at most *timeout_s*: lets the code answering it model an answer that never comes."""

    def __init__(self, timeout_s: float, scale: float) -> None:
        self.started = time.monotonic()
        self.timeout_s = timeout_s
        self.scale = scale
        self.abandoned = False

    def never_answer(self) -> None:
        """Wait until the caller gives up (after its timeout times the scale) and mark the call abandoned."""
        wait = self.started + self.timeout_s * self.scale - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.abandoned = True


_serving = threading.local()


@contextmanager
def serving(call: Call) -> Iterator[Call]:
    """Run the body as the code that answers *call* (see :func:`current_call`)."""
    outer = getattr(_serving, "call", None)
    _serving.call = call
    try:
        yield call
    finally:
        _serving.call = outer


def current_call() -> Optional[Call]:
    """The call this thread is answering, if any."""
    return getattr(_serving, "call", None)
