"""cocalc-api-tests: an end-to-end test suite for CoCalc's HTTP API that cleans up after itself.

Run it with ``python -m unittest cocalc_api_tests`` (or ``python -m cocalc_api_tests``);
reuse its pieces from another unittest suite::

    from cocalc_api_tests import TrackedResourcesMixin, get_session
"""
import os
import unittest

from .client import Hub, Project
from .config import Config
from .errors import CoCalcAPIError, CoCalcConnectionError, CoCalcError, ConfigError, DatabaseError
from .session import Session, get_session
from .mixin import TrackedResourcesMixin
from .tracking import Tracker

__all__ = [
    "CoCalcAPIError",
    "CoCalcConnectionError",
    "CoCalcError",
    "Config",
    "ConfigError",
    "DatabaseError",
    "Hub",
    "Project",
    "Session",
    "TrackedResourcesMixin",
    "Tracker",
    "get_session",
]

__version__ = "0.1.0"


def load_tests(loader: unittest.TestLoader, standard_tests: unittest.TestSuite, pattern):
    """Make ``python -m unittest cocalc_api_tests`` run the package's test modules."""
    here = os.path.dirname(os.path.abspath(__file__))
    standard_tests.addTests(loader.discover(start_dir=here, pattern=pattern or "test*.py", top_level_dir=os.path.dirname(here)))
    return standard_tests
