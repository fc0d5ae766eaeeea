"""The authorization matrix as data: every safe call has a row, cells are named once, the README shows the table."""
import os
import unittest

from helpers import UNSAFE, reachable

from cocalc_api_tests.actors import ACTORS
from cocalc_api_tests.matrix import RULES, NotApplicable, cells, with_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TestMatrixTable(unittest.TestCase):
    def test_every_safe_call_has_a_row(self) -> None:
        rows = {(rule.endpoint, rule.call) for rule in RULES}
        safe = reachable() - UNSAFE
        self.assertEqual(len(safe), 78)
        self.assertEqual(sorted(safe - rows), [], "safe calls without a row")
        self.assertEqual(sorted(rows - safe), [], "rows of calls that are not safe (or not CoCalc's)")

    def test_every_cell_is_filled_or_says_why_not(self) -> None:
        for rule in RULES:
            for actor in ACTORS:
                with self.subTest(rule=rule.name, actor=actor):
                    outcome = rule.outcome(actor)
                    if isinstance(outcome, NotApplicable):
                        self.assertTrue(outcome.reason.strip(), "a cell that does not apply needs its reason")

    def test_cell_names_are_unique(self) -> None:
        ids = [c.id for c in cells()]
        self.assertEqual(len(ids), len(set(ids)))

    def test_the_readme_shows_the_table_of_the_data(self) -> None:
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        self.assertEqual(with_table(readme), readme,
                         "README.md's matrix is stale: run python -m cocalc_api_tests.matrix --readme README.md")
