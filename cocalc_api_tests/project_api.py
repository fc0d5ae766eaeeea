"""A project's call groups (``/api/conat/project``): what runs inside one project."""
from typing import Any, Dict, List, Optional, Sequence

from .calls import Group, ms, options, remote
from .hub_api import JUPYTER_TIMEOUT


class ProjectSystem(Group):
    """``system.*`` inside one project."""

    @remote("system.ping")
    def ping(self) -> Dict[str, int]:
        """``{"now": ms}`` from the project's own server."""
        return self._call("system.ping")

    @remote("system.test")
    def test(self) -> Dict[str, Any]:
        """``{"project_id", "server_time"}``."""
        return self._call("system.test")

    @remote("system.exec")
    def exec(
        self,
        command: str,
        args: Optional[Sequence[str]] = None,
        path: Optional[str] = None,
        cwd: Optional[str] = None,
        timeout: Optional[float] = None,
        max_output: Optional[int] = None,
        bash: Optional[bool] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> Dict[str, Any]:
        """Run a command in the project: ``{"type", "stdout", "stderr", "exit_code"}``.

        A non-zero exit raises :class:`CoCalcAPIError` with CoCalc's text
        (``command '...' exited with nonzero code N -- stderr='...'``).  *timeout* is
        in seconds; it is sent both to the command and, in milliseconds, to the bridge.
        """
        opts = options(
            command=command,
            args=list(args) if args is not None else None,
            path=path,
            cwd=cwd,
            timeout=timeout,
            max_output=max_output,
            bash=bash,
            env=env,
        )
        return self._call("system.exec", opts, timeout_ms=ms(timeout))

    @remote("system.jupyterExecute")
    def jupyter_execute(
        self,
        input: str,
        kernel: str,
        history: Optional[Sequence[str]] = None,
        path: Optional[str] = None,
        timeout: float = JUPYTER_TIMEOUT,
    ) -> List[Dict[str, Any]]:
        """Run *input* on a kernel in this project; the bare list of outputs."""
        opts = options(input=input, history=list(history) if history else None, kernel=kernel, path=path)
        return self._call("system.jupyterExecute", opts, timeout_ms=ms(timeout))

    @remote("system.listJupyterKernels")
    def list_jupyter_kernels(self) -> List[Dict[str, Any]]:
        """Running kernels: ``[{"pid", "connectionFile"}, ...]``."""
        return self._call("system.listJupyterKernels", {})

    @remote("system.stopJupyterKernel")
    def stop_jupyter_kernel(self, pid: int) -> Dict[str, bool]:
        """Stop the kernel with process id *pid*: ``{"success": bool}``."""
        return self._call("system.stopJupyterKernel", {"pid": pid})
