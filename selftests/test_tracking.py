"""The tracker refuses what it cannot clean up: unknown kinds and intents without their unique value.

No server is needed: the tracker is plain data with hooks (the ledger's writes).
"""
import unittest
from typing import List

from cocalc_api_tests.tracking import KINDS, Intent, Resource, Tracker, check_kind


class CheckKindTest(unittest.TestCase):
    def test_every_known_kind_passes(self) -> None:
        for kind in KINDS:
            self.assertEqual(check_kind(kind), kind)

    def test_an_unknown_kind_is_refused_naming_the_known_ones(self) -> None:
        for kind in ("projects", "Project", "", "widget"):
            with self.subTest(kind=kind):
                with self.assertRaises(ValueError) as caught:
                    check_kind(kind)
                self.assertEqual(str(caught.exception), f"unknown resource kind {kind!r}; expected one of {', '.join(KINDS)}")


class TrackerRefusesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.added: List[Resource] = []
        self.intended: List[Intent] = []
        self.tracker = Tracker(on_add=self.added.append, on_intent=self.intended.append)

    def assertNothingRecorded(self) -> None:
        self.assertEqual((len(self.tracker), self.tracker.unresolved(), self.added, self.intended), (0, [], [], []))

    def test_add_of_an_unknown_kind(self) -> None:
        with self.assertRaisesRegex(ValueError, "unknown resource kind 'widget'"):
            self.tracker.add("widget", "6f1c0d2e-0b8a-4d55-9a5e-1b2c3d4e5f60")
        self.assertNothingRecorded()

    def test_intent_of_an_unknown_kind(self) -> None:
        with self.assertRaisesRegex(ValueError, "unknown resource kind 'widget'"):
            self.tracker.intend("widget", title="x")
        self.assertNothingRecorded()

    def test_intent_without_the_unique_value_its_call_carries(self) -> None:
        with self.assertRaisesRegex(ValueError, "an intent needs the unique value its call carries"):
            self.tracker.intend("project")
        self.assertNothingRecorded()

    def test_adopting_an_intent_of_an_unknown_kind(self) -> None:
        with self.assertRaisesRegex(ValueError, "unknown resource kind 'widget'"):
            self.tracker.take_intent(Intent("widget", {"title": "x"}, 7))
        self.assertNothingRecorded()

    def test_known_kinds_are_recorded_through_the_hooks(self) -> None:
        intent = self.tracker.intend("project", title="t-1")
        self.assertEqual(self.tracker.unresolved(), [intent])
        resource = self.tracker.add("project", "p-1", intent=intent, title="t-1")
        self.assertEqual((self.intended, self.added, self.tracker.unresolved()), ([intent], [resource], []))
        self.tracker.add("project", "p-1")
        self.assertEqual((self.tracker.ids("project"), len(self.added)), (["p-1"], 1), "the same id was tracked twice")


if __name__ == "__main__":
    unittest.main()
