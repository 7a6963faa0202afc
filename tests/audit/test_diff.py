import datetime
from decimal import Decimal

from portal.audit.diff import change_rows, field_changes, jsonable


def test_unchanged_fields_are_left_out():
    assert field_changes({"memo": "a", "amount": "1"}, {"memo": "a", "amount": "1"}) == {}


def test_changed_field_reports_before_and_after():
    assert field_changes({"memo": "old"}, {"memo": "new"}) == {"memo": ["old", "new"]}


def test_creation_lists_every_field_against_none():
    changes = field_changes(None, {"memo": "x", "date": datetime.date(2024, 5, 1)})
    assert changes == {"memo": [None, "x"], "date": [None, "2024-05-01"]}


def test_removal_lists_every_field_against_none():
    assert field_changes({"memo": "x"}, None) == {"memo": ["x", None]}


def test_money_from_api_text_equals_the_same_decimal():
    assert field_changes({"amount": "10.50"}, {"amount": Decimal("10.5")}) == {}
    assert field_changes({"amount": "10.50"}, {"amount": Decimal("10.51")}) == {
        "amount": ["10.50", "10.51"]
    }


def test_text_that_looks_numeric_still_changes():
    assert field_changes({"reference": "007"}, {"reference": "7"}) == {"reference": ["007", "7"]}


def test_items_are_matched_by_id():
    before = {"items": [{"id": 1, "amount": "5"}, {"id": 2, "amount": "7"}]}
    after = {"items": [{"id": 2, "amount": "8"}, {"id": 1, "amount": "5"}, {"amount": "3"}]}
    assert field_changes(before, after) == {
        "items": {"added": [{"amount": "3"}], "changed": {"2": {"amount": ["7", "8"]}}}
    }


def test_items_without_ids_are_matched_by_position():
    before = {"items": [{"amount": "5"}, {"amount": "7"}, {"amount": "9"}]}
    after = {"items": [{"amount": "5"}, {"amount": "6"}]}
    assert field_changes(before, after) == {
        "items": {"removed": [{"amount": "9"}], "changed": {"#2": {"amount": ["7", "6"]}}}
    }


def test_removed_item_with_id():
    before = {"items": [{"id": 1, "amount": "5"}, {"id": 2, "amount": "7"}]}
    after = {"items": [{"id": 1, "amount": "5"}]}
    assert field_changes(before, after) == {"items": {"removed": [{"id": 2, "amount": "7"}]}}


def test_jsonable_keeps_values_stable_through_json():
    value = jsonable({"a": Decimal("1.10"), "b": 0.1, "c": datetime.date(2024, 1, 2), "d": (1,)})
    assert value == {"a": "1.10", "b": "0.1", "c": "2024-01-02", "d": [1]}


def test_change_rows_flatten_fields_and_items_for_display():
    changes = {
        "memo": ["old", "new"],
        "items": {
            "changed": {"#2": {"amount": ["7", "6"]}, "17": {"description": ["a", "b"]}},
            "added": [{"amount": "3", "description": "Fee"}],
            "removed": [{"id": 9, "amount": "1"}],
        },
    }
    rows = change_rows(changes)
    assert [(row.label, row.before, row.after, row.status) for row in rows] == [
        ("memo", "old", "new", "changed"),
        ("items line 2: amount", "7", "6", "changed"),
        ("items id 17: description", "a", "b", "changed"),
        ("items: line added", None, "amount: 3, description: Fee", "added"),
        ("items: line removed", "id: 9, amount: 1", None, "removed"),
    ]
