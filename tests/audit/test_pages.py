import csv
import datetime
import io
import tracemalloc

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from portal.audit import actions
from portal.audit.models import AuditEvent
from portal.audit.selectors import events_for_record
from portal.audit.services import audit_record
from portal.records.kinds import KINDS
from tests.audit.conftest import append_events, tamper

pytestmark = pytest.mark.django_db


def _sequences(response) -> list[int]:
    return [event.sequence for event in response.context["page"].object_list]


def test_viewer_reads_the_log_newest_first(login_as, viewer, preparer):
    for key in ("1", "2", "3"):
        audit_record(actor=preparer, action=actions.RECORD_CREATED, kind="refunds", key=key)
    response = login_as(viewer).get("/audit/")
    assert response.status_code == 200
    assert _sequences(response) == [3, 2, 1]
    assert b"Audit log" in response.content


def test_person_without_a_role_cannot_read_or_export(login_as, plain_user):
    client = login_as(plain_user)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=approved", [3]),
        ("kind=deposits", [2]),
        ("key=1042", [3, 1]),
        ("outcome=failure", [4]),
        ("correlation_id=req-one-123", [4]),
    ],
)
def test_filters(rf, login_as, viewer, preparer, approver, query, expected):
    audit_record(actor=preparer, action=actions.RECORD_CREATED, kind="refunds", key="1042")
    audit_record(actor=preparer, action=actions.RECORD_CREATED, kind="deposits", key="77")
    audit_record(actor=approver, action=actions.APPROVED, kind="refunds", key="1042")
    request = rf.post("/credits/9/submit/")
    request.correlation_id = "req-one-123"
    audit_record(
        actor=approver,
        action=actions.POST_FAILED,
        kind="credits",
        key="9",
        success=False,
        error="DualEntry is not responding.",
        request=request,
    )
    response = login_as(viewer).get(f"/audit/?{query}")
    assert _sequences(response) == expected


def test_person_filter(login_as, viewer, preparer, approver):
    audit_record(actor=preparer, action=actions.RECORD_CREATED)
    audit_record(actor=approver, action=actions.APPROVED)
    response = login_as(viewer).get(f"/audit/?person={approver.pk}")
    assert [event.actor_username for event in response.context["page"].object_list] == ["approver"]


def test_date_range_is_inclusive_of_both_days(login_as, viewer):
    append_events(3)
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    client = login_as(viewer)
    assert len(_sequences(client.get(f"/audit/?date_from={today}&date_to={today}"))) == 3
    assert _sequences(client.get(f"/audit/?date_to={yesterday}")) == []


def test_impossible_date_range_is_explained(login_as, viewer):
    response = login_as(viewer).get("/audit/?date_from=2025-02-01&date_to=2025-01-01")
    assert response.status_code == 422
    assert "“From” date is after the “To” date" in response.content.decode()


def test_htmx_request_gets_only_the_table(login_as, viewer):
    append_events(2)
    response = login_as(viewer).get("/audit/?kind=refunds", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="audit-table">')
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_pages_of_fifty_keep_the_filters(login_as, viewer):
    append_events(120)
    client = login_as(viewer)
    first = client.get("/audit/?kind=refunds")
    assert len(_sequences(first)) == 50
    assert 'href="?kind=refunds&amp;page=2"' in first.content.decode()
    third = client.get("/audit/?kind=refunds&page=3")
    assert _sequences(third) == list(range(20, 0, -1))


def test_diff_shows_old_struck_through_and_new_highlighted(login_as, viewer, preparer):
    audit_record(
        actor=preparer,
        action=actions.RECORD_UPDATED,
        kind="refunds",
        key="5",
        before={"memo": "Old memo", "items": [{"id": 1, "amount": "5.00"}]},
        after={"memo": "New memo", "items": [{"id": 1, "amount": "6.00"}, {"amount": "2.00"}]},
    )
    html = login_as(viewer).get("/audit/").content.decode()
    assert '<del class="diff-old">Old memo</del>' in html
    assert '<ins class="diff-new">New memo</ins>' in html
    assert "items id 1: amount" in html
    assert '<del class="diff-old">5.00</del>' in html
    assert '<tr class="row-added">' in html


def test_history_partial_renders_a_records_events(preparer, approver):
    audit_record(
        actor=preparer,
        action=actions.RECORD_UPDATED,
        kind="refunds",
        key="1042",
        before={"memo": "a"},
        after={"memo": "b"},
    )
    audit_record(
        actor=approver,
        action=actions.POST_FAILED,
        kind="refunds",
        key="1042",
        success=False,
        error="DualEntry is not responding.",
    )
    html = render_to_string(
        "audit/_history.html",
        {
            "history": events_for_record(kind="refunds", key="1042"),
            "kind": KINDS["refunds"],
            "key": "1042",
        },
    )
    assert html.index("Posting failed") < html.index("Record updated")  # newest first
    assert "DualEntry is not responding." in html
    assert '<del class="diff-old">a</del>' in html
    assert "/audit/?kind=refunds&amp;key=1042" in html


def test_history_partial_without_events(preparer):
    html = render_to_string(
        "audit/_history.html", {"history": [], "kind": KINDS["credits"], "key": "3"}
    )
    assert "no activity" in html


def _csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_export_streams_the_current_filter(login_as, viewer, preparer, approver):
    audit_record(actor=preparer, action=actions.RECORD_CREATED, kind="refunds", key="1")
    audit_record(
        actor=approver,
        action=actions.APPROVED,
        kind="refunds",
        key="1",
        summary="=HYPERLINK(1)",
        changes={"status": ["submitted", "approved"]},
    )
    response = login_as(viewer).get("/audit/export.csv?action=approved")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = _csv_rows(response)
    assert len(rows) == 1
    row = rows[0]
    assert (row["person"], row["action"], row["outcome"]) == ("approver", "approved", "succeeded")
    assert row["summary"] == "'=HYPERLINK(1)"  # spreadsheets must not run it
    assert row["changes"] == '{"status": ["submitted", "approved"]}'
    assert row["hash"] == AuditEvent.objects.get(action="approved").hash


def _export_peak(client) -> tuple[int, int]:
    response = client.get("/audit/export.csv")
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in response.streaming_content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return size, peak


def test_export_of_10000_events_streams_in_constant_memory(login_as, viewer):
    changes = {"memo": ["Refund for order " + "x" * 80, "Refund for order " + "y" * 80]}
    client = login_as(viewer)
    append_events(2_000, changes=changes)
    small_size, small_peak = _export_peak(client)
    append_events(8_000, changes=changes)
    size, peak = _export_peak(client)
    assert size > 4 * small_size  # five times the rows...
    assert peak < 1.5 * small_peak  # ...in about the same memory
    assert peak < size / 2
    assert peak < 4 * 1024 * 1024


def test_admin_is_read_only(login_as, admin_user, preparer):
    event = audit_record(actor=preparer, action=actions.RECORD_CREATED)
    client = login_as(admin_user)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    change_page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert change_page.status_code == 200
    assert b'name="_save"' not in change_page.content
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert (
        client.post(
            f"/admin/audit/auditevent/{event.pk}/change/", {"summary": "rewritten"}
        ).status_code
        == 403
    )
    assert AuditEvent.objects.get(pk=event.pk).summary == event.summary


def test_history_restore_gets_the_whole_page(login_as, viewer):
    response = login_as(viewer).get(
        "/audit/?kind=refunds",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert b"<html" in response.content


PERSON_UNKNOWN = "Select a valid choice. That choice is not one of the available choices."


@pytest.mark.parametrize("path", ["/audit/", "/audit/export.csv"])
@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("date_to=9999-12-31", "date_to", "Enter a date between 1970-01-01 and 2999-12-31."),
        ("date_from=9999-12-31", "date_from", "Enter a date between 1970-01-01 and 2999-12-31."),
        ("date_from=0001-01-01", "date_from", "Enter a date between 1970-01-01 and 2999-12-31."),
        ("date_to=0001-01-01", "date_to", "Enter a date between 1970-01-01 and 2999-12-31."),
        ("date_to=10000-01-01", "date_to", "Enter a valid date."),
        ("date_from=yesterday", "date_from", "Enter a valid date."),
        ("date_from=2025-02-30", "date_from", "Enter a valid date."),
        (
            "date_from=2025-02-01&date_to=2025-01-01",
            "date_to",
            "The “From” date is after the “To” date.",
        ),
        ("person=99999999999999999999999", "person", PERSON_UNKNOWN),
        ("person=abc", "person", PERSON_UNKNOWN),
        ("key=a%00b", "key", "Null characters are not allowed."),
    ],
)
def test_invalid_filters_are_explained_next_to_the_field(
    login_as, viewer, path, query, field, message
):
    append_events(2)
    response = login_as(viewer).get(f"{path}?{query}")
    assert response.status_code == 422
    assert response.context["form"].errors[field] == [message]
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html  # the message sits next to its field...
    assert f'aria-describedby="id_{field}_error"' in html  # ...and is tied to it
    assert message.replace("“", "&ldquo;").replace("”", "&rdquo;") in html or message in html


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99999999999999999999999", "1e400"])
def test_odd_page_numbers_show_a_page(login_as, viewer, page):
    append_events(3)
    response = login_as(viewer).get(f"/audit/?page={page}")
    assert response.status_code == 200
    assert len(_sequences(response)) == 3


def test_widest_allowed_range_works_on_page_and_csv(login_as, viewer):
    append_events(3)
    client = login_as(viewer)
    query = "date_from=1970-01-01&date_to=2999-12-31"
    assert len(_sequences(client.get(f"/audit/?{query}"))) == 3
    assert len(_csv_rows(client.get(f"/audit/export.csv?{query}"))) == 3


def test_htmx_request_with_invalid_filters_replaces_the_form_to_show_the_messages(login_as, viewer):
    response = login_as(viewer).get(
        "/audit/?date_to=9999-12-31", headers={"HX-Request": "true", "HX-Target": "audit-table"}
    )
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#audit-page"
    assert response["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="audit-page">')
    assert 'id="id_date_to_error"' in html
    assert 'hx-target="#audit-page"' in html  # the next filtering clears the messages


def test_htmx_request_after_errors_replaces_the_form_again(login_as, viewer):
    append_events(1)
    response = login_as(viewer).get(
        "/audit/?date_to=2999-12-31", headers={"HX-Request": "true", "HX-Target": "audit-page"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="audit-page">')
    assert "errorlist" not in html
    assert 'hx-target="#audit-table"' in html


@pytest.fixture
def three_checkpointed_events(preparer, django_capture_on_commit_callbacks):
    """Three events recorded through the service, with the checkpoints written after commit
    (which the verification page anchors its verdict to)."""
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            audit_record(actor=preparer, action=actions.RECORD_CREATED)


def test_verification_page_says_the_log_is_intact(login_as, viewer, three_checkpointed_events):
    client = login_as(viewer)
    assert 'href="/audit/verify/"' in client.get("/audit/").content.decode()
    html = client.get("/audit/verify/").content.decode()
    assert "Intact: 3 events verified, anchored by checkpoint #3 (event 3, written " in html


def test_verification_page_names_the_failed_guarantee(login_as, viewer, three_checkpointed_events):
    tamper("DELETE FROM audit_auditevent WHERE sequence = %s", [3])
    html = login_as(viewer).get("/audit/verify/").content.decode()
    assert "The audit log is NOT intact" in html
    assert "Tail truncated: checkpoint #3 says event 3 with hash " in html


def test_verification_page_needs_the_audit_permission(login_as, plain_user):
    assert login_as(plain_user).get("/audit/verify/").status_code == 403
