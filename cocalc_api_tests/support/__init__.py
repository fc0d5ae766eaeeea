"""What the API test modules share, split by job; every name is importable from here.

- :mod:`.core`: :class:`APITestCase` (calls that fail the test with the server's answer,
  polling, background results, clocks), :func:`prepare`;
- :mod:`.projects`: projects made in the background, :class:`ProjectTestCase`;
- :mod:`.access`: other keys' clients, late refusals, the :func:`requires_site_admin` gate;
- :mod:`.jupyter`: kernels, their warm-up and gate, :class:`JupyterTestCase`;
- :mod:`.rows`: effects no API call reads back, read from the database (read only).
"""
from ..client import ScopedProject
from ..wordings import BAD_KEY as BAD_KEY_ERROR
from .access import KEY_CACHE_WAIT, NOT_ADMIN_REASON, KeyTestCase, admin_only_reason, admin_only_tests, requires_site_admin
from .core import (
    BACKGROUND_WAIT, CLOCK_SKEW, EVENTUAL_WAIT, HTTP_GET_TIMEOUT, ORG_CALLS, SECOND_ACCOUNT_REASON, APITestCase,
    parse_time, prepare, remote_name,
)
from .jupyter import (
    JUPYTER_BUDGET, JUPYTER_SKIP_REASON, KERNEL, KERNELS, WARM_UP_CODE, JupyterMixin, JupyterTestCase, KernelGate,
    skip_on_ci, warm_up_kernel,
)
from .projects import PROCESS_EXIT_WAIT, ProjectTestCase, background_project
from .rows import NO_DATABASE_REASON, database_configured, read_rows, table_scans

__all__ = [
    "APITestCase", "BACKGROUND_WAIT", "BAD_KEY_ERROR", "CLOCK_SKEW", "EVENTUAL_WAIT", "HTTP_GET_TIMEOUT",
    "JUPYTER_BUDGET", "JUPYTER_SKIP_REASON", "JupyterMixin", "JupyterTestCase", "KERNEL", "KERNELS", "KEY_CACHE_WAIT",
    "KernelGate", "KeyTestCase", "NOT_ADMIN_REASON", "ORG_CALLS", "PROCESS_EXIT_WAIT", "ProjectTestCase",
    "ScopedProject", "WARM_UP_CODE", "background_project", "parse_time", "prepare", "remote_name",
    "SECOND_ACCOUNT_REASON", "admin_only_reason", "admin_only_tests", "requires_site_admin", "skip_on_ci",
    "warm_up_kernel",
    "NO_DATABASE_REASON", "database_configured", "read_rows", "table_scans",
]
