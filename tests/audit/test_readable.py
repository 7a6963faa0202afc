"""History and the audit log in people's words: labels, names for ids, actors, sentences.

The stored changes keep API names and raw values (what is hashed); only pages read them for
people, and the raw values stay one click away and in the CSV."""

import csv
import io

import pytest
from django.utils import timezone

from portal.audit import actions
from portal.audit.diff import field_changes
from portal.audit.display import API_ACTOR, readable_changes, record_title
from portal.audit.services import audit_record
from portal.readmodel.account import current_account
from portal.readmodel.models import MirroredRecord
from portal.records.references import ReferenceList, References

pytestmark = pytest.mark.django_db

NAMES = References(
    {
        "companies": ReferenceList("companies", {1: {"name": "Northwind Analytics Inc."}}, None),
        "customers": ReferenceList(
            "customers", {101: {"name": "Acme Logistics"}, 102: {"name": "Bluebird Bakeries"}}, None
        ),
        "account_numbers": ReferenceList(
            "account_numbers", {11000: {"name": "11000 · Operating Bank"}}, None
        ),
        "payment_methods": ReferenceList("payment_methods", {1: {"name": "Check"}}, None),
    }
)

REFUND_UPDATE = {
    "company_id": [None, 1],
    "customer_id": [101, 102],
    "account_number": [None, 11000],
    "payment_method_id": [None, 1],
    "currency_iso_4217_code": ["USD", "EUR"],
    "attachments": [[], None],
    "memo": ["", ""],
    "updated_by": [
        {"actor_type": "user", "first_name": "Maria", "last_name": "Lopez", "email": "m@x"},
        {"actor_type": "api_key", "first_name": "Sandbox", "last_name": "API key"},
    ],
    "items": {"added": [{"customer_credit_number": 1088, "amount": "1875.5", "position": 0}]},
}


def _refund_updated(changes: dict, references=NAMES):
    """A refund's update as people read it, names for ids from `references`."""
    return readable_changes(
        action=actions.RECORD_UPDATED, kind_slug="refunds", changes=changes, references=references
    )


def _by_label(changes):
    return {row.label: (row.before, row.after) for row in changes.rows}


def test_fields_read_with_the_registry_labels_and_ids_as_names():
    changes = _refund_updated(REFUND_UPDATE)
    rows = _by_label(changes)
    assert rows["Company"] == ("empty", "Northwind Analytics Inc.")
    assert rows["Customer"] == ("Acme Logistics", "Bluebird Bakeries")
    assert rows["Paid from account"] == ("empty", "11000 · Operating Bank")
    assert rows["Payment method"] == ("empty", "Check")
    assert rows["Currency"] == ("USD", "EUR")
    assert rows["Last updated in DualEntry"] == ("Maria Lopez", API_ACTOR)
    assert rows["Line items: line added"] == (
        "",
        "Customer credit: Customer credit 1088, Amount: 1,875.50",
    )
    # No API names, no dicts, no empty-to-empty rows.
    text = repr(changes.rows)
    for raw in ("company_id", "customer_id", "actor_type", "attachments", "Memo"):
        assert raw not in text


def test_a_credit_a_line_applies_is_named_with_its_customer_from_the_copy():
    MirroredRecord.objects.create(
        account=current_account(),
        kind="credits",
        key="1088",
        number="1088",
        customer_name="Acme Logistics",
        data={"number": 1088},
        seen_at=timezone.now(),
        changed_at=timezone.now(),
    )
    changes = _refund_updated(REFUND_UPDATE)
    assert _by_label(changes)["Line items: line added"] == (
        "",
        "Customer credit: Customer credit 1088 · Acme Logistics, Amount: 1,875.50",
    )


def test_raw_values_stay_available_for_auditors():
    changes = _refund_updated(REFUND_UPDATE)
    raw = {row.field: (row.before, row.after) for row in changes.raw if not row.group}
    assert raw["customer_id"] == (101, 102)
    assert raw["updated_by"][1]["actor_type"] == "api_key"


@pytest.mark.parametrize("missing", [None, ""], ids=["none", "template default"])
def test_pages_without_names_show_ids(missing):
    changes = _refund_updated({"company_id": [1, 2]}, references=missing)
    assert _by_label(changes)["Company"] == ("#1", "#2")


def test_an_unknown_id_shows_as_a_number_not_as_a_wrong_name():
    changes = _refund_updated({"customer_id": [101, 999]})
    assert _by_label(changes)["Customer"] == ("Acme Logistics", "#999")


def test_submission_says_what_approval_will_do_not_that_the_status_changed():
    submitted = readable_changes(
        action=actions.SUBMITTED,
        kind_slug="refunds",
        changes={"record_status": ["draft", "posted"]},
    )
    assert submitted.sentence == "Submitted for approval: will post when approved"
    assert submitted.rows == []
    posted = readable_changes(
        action=actions.POSTED, kind_slug="refunds", changes={"record_status": ["draft", "posted"]}
    )
    assert posted.sentence == "Posted in DualEntry"
    change = readable_changes(
        action=actions.CHANGE_REQUESTED, kind_slug="refunds", changes={"memo": ["Old", "New"]}
    )
    assert change.caption == "Changes that apply when approved"
    assert _by_label(change)["Memo"] == ("Old", "New")


def test_empty_to_empty_is_no_change_when_stored():
    assert field_changes({"attachments": [], "memo": ""}, {"attachments": None, "memo": None}) == {}
    assert field_changes({"memo": ""}, {"memo": "Paid twice"}) == {"memo": ["", "Paid twice"]}


def test_record_title_names_the_kind():
    assert record_title("refunds", "1091") == "Customer refund 1091"
    assert record_title("contracts", "10344") == "Contract 10344"
    assert record_title("", "") == ""


def test_audit_log_page_names_records_companies_and_people_and_keeps_raw_values(
    login_as, viewer, preparer, settings
):
    settings.DUALENTRY_API_URL = ""  # no DualEntry: ids instead of names, never an error
    audit_record(
        actor=preparer,
        action=actions.SUBMITTED,
        kind="refunds",
        key="1091",
        company_id=1,
        summary="Priya Preparer submitted customer refund 1091 for approval",
        changes={"record_status": ["draft", "posted"], "memo": ["a", "b"]},
    )
    response = login_as(viewer).get("/audit/")
    html = response.content.decode()
    assert response.status_code == 200
    assert ">Customer refund 1091</a>" in html
    assert "Company 1" in html and "company 1<" not in html
    assert "Submitted for approval: will post when approved" in html
    assert "Priya Preparer" in html
    assert "<summary>Raw values</summary>" in html
    assert '<del class="diff-old">draft</del>' in html  # under "Raw values"

    export = login_as(viewer).get("/audit/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0]["kind"] == "refunds" and rows[0]["company_id"] == "1"
    assert '"record_status": ["draft", "posted"]' in rows[0]["changes"]


def test_detail_page_names_the_portal_person_behind_dualentrys_api_user(
    sandbox_settings, sandbox, login_as, viewer, preparer
):
    from dualentry_api.client import get_client

    sandbox.reset()
    payload = {
        "date": "2026-11-02",
        "company_id": 1,
        "customer_id": 101,
        "account_number": 11000,
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
        "memo": "Readable history",
        "payment_method_id": 1,
        "items": [{"customer_credit_number": 1026, "amount": "10.00", "position": 0}],
        "record_status": "draft",
    }
    record = get_client().customer_refunds.create(payload)
    key = str(record["number"])
    audit_record(
        actor=preparer,
        action=actions.RECORD_CREATED,
        kind="refunds",
        key=key,
        company_id=1,
        summary=f"Draft customer refund {key} created",
        before=None,
        after=payload,
    )
    html = login_as(viewer).get(f"/refunds/{key}/").content.decode()
    company = sandbox.store.get("companies", 1)["name"]
    customer = sandbox.store.get("customers", 101)["name"]
    assert "Via the portal (API)" in html
    assert "Priya Preparer, in the portal" in html
    assert "Sandbox API key" not in html
    history = html[html.index('id="history"') :]
    assert f'<ins class="diff-new">{company}</ins>' in history.replace("&amp;", "&")
    assert f'<ins class="diff-new">{customer}</ins>' in history.replace("&amp;", "&")
    assert "Paid from account" in history and "company_id" not in history.split("Raw values")[0]


def test_dashboard_activity_names_the_record(login_as, viewer, preparer, settings):
    settings.DUALENTRY_API_URL = ""
    audit_record(
        actor=preparer, action=actions.RECORD_UPDATED, kind="refunds", key="1091", summary="x"
    )
    html = login_as(viewer).get("/").content.decode()
    assert ">Customer refund 1091</a>" in html
    assert "refunds 1091" not in html
