"""What every group of remote calls shares: the :class:`Group` base and the ``@remote`` mark.

A group is a set of client methods, one per remote call, each marked with the
call's CoCalc name so that :func:`cocalc_api_tests.client.remote_calls` can list
them::

    class Things(Group):
        @remote("things.get")
        def get(self, name: str) -> dict:
            return self._call("things.get", {"name": name})
"""
from typing import Any, Callable, Dict, Optional

Json = Any


def remote(name: str) -> Callable[[Callable], Callable]:
    """Mark a client method as the wrapper of the remote call *name*."""

    def mark(method: Callable) -> Callable:
        method.remote_name = name  # type: ignore[attr-defined]
        return method

    return mark


def options(**values: Any) -> Dict[str, Any]:
    """The keyword arguments that were given (CoCalc treats absent and null alike)."""
    return {k: v for k, v in values.items() if v is not None}


def ms(seconds: Optional[float]) -> Optional[int]:
    """Seconds as the bridge's milliseconds (``None`` stays ``None``)."""
    return None if seconds is None else round(seconds * 1000)


class Group:
    """A named group of remote calls (``system``, ``projects``, ...) on one endpoint."""

    def __init__(self, endpoint: Any):
        self._endpoint = endpoint

    def _call(self, name: str, *args: Json, timeout_ms: Optional[int] = None) -> Json:
        return self._endpoint.call(name, list(args), timeout_ms)


class SystemBasics(Group):
    """The two ``system`` calls both endpoints answer, each for its own caller."""

    @remote("system.ping")
    def ping(self) -> Dict[str, int]:
        """``{"now": ms}``: the server's clock (the hub bridge wants a valid key even for this)."""
        return self._call("system.ping")

    @remote("system.test")
    def test(self) -> Dict[str, Any]:
        """The key's scope: ``{"account_id", "server_time"}`` on the hub, ``{"project_id", "server_time"}`` in a project."""
        return self._call("system.test")
