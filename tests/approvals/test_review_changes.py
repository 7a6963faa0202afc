"""The review page's "What approval changes" in people's words: what approval does as a
sentence, the forms' labels, names for ids, lines numbered; raw values under a fold."""

import re

import pytest
from django.urls import reverse

from portal.approvals import selectors, services
from portal.approvals.models import ApprovalRequest
from portal.records.kinds import REFUNDS

pytestmark = pytest.mark.django_db


def _page(client, approval_request: ApprovalRequest) -> str:
    response = client.get(reverse("approvals:detail", kwargs={"pk": approval_request.pk}))
    assert response.status_code == 200
    return response.content.decode()


def _section(page: str) -> str:
    """The "What approval changes" card."""
    start = page.index('id="diff-title"')
    return page[start : page.index("</section>", start)]


def _readable_part(section: str) -> str:
    return section.split('<details class="raw-values">')[0]


def test_posting_a_draft_reads_as_what_happens(make_draft_refund, preparer, approver, login_as):
    key = make_draft_refund(memo="Refund for the pages")
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    section = _section(_page(login_as(approver), approval_request))
    readable = _readable_part(section)

    assert "Posts the customer refund in DualEntry." in readable
    assert "draft" not in readable.lower()  # no "Record status: draft -> posted"
    assert "record status" not in readable.lower()
    # The raw values stay, under a fold.
    assert '<details class="raw-values">' in section
    assert re.search(r"Record status</th>\s*<td><del class=\"diff-old\">draft</del>", section)


def test_a_change_names_fields_and_references_by_their_labels_and_names(
    make_draft_refund, preparer, approver, approver2, login_as, client_api
):
    key = make_draft_refund(memo="Posted before the change")
    posting = services.approval_submit(kind="refunds", key=key, user=preparer)
    services.approval_approve(approval_request=posting, user=approver)
    current = selectors.current_payload(
        kind=REFUNDS, key=key, record=client_api.customer_refunds.get(key)
    )
    items = [{**current["items"][0], "amount": "1500.00"}]
    change = services.change_request_submit(
        kind="refunds",
        key=key,
        payload={**current, "memo": "Corrected memo", "payment_method_id": 1, "items": items},
        user=preparer,
    )
    review = selectors.approval_review(approval_request=change, user=approver2)
    assert review.change_sentence == "Changes the posted customer refund in DualEntry."
    rows = {row.label: (row.before, row.after) for row in review.readable_changes}
    assert rows["Memo"] == ("Posted before the change", "Corrected memo")
    method_before, method_after = rows["Payment method"]
    assert re.fullmatch(r"\D+ \(3\)", method_before), method_before  # a name, then the id
    assert re.fullmatch(r"\D+ \(1\)", method_after), method_after
    assert rows["Line items, line 1: Amount"] == ("1,875.00", "1,500.00")
    assert not any("_" in label for label in rows)  # no API field names

    readable = _readable_part(_section(_page(login_as(approver2), change)))
    assert "Changes the posted customer refund in DualEntry." in readable
    assert "Payment method" in readable
    assert "payment method id" not in readable.lower()
    assert method_after in readable


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("1875", "1,875.00"), ("-0.5", "-0.50"), ("1E+40", "1E+40"), ("NaN", "NaN"), ("x", "x")],
)
def test_amounts_read_as_money_and_any_value_renders(make_draft_refund, preparer, stored, shown):
    approval_request = services.approval_submit(
        kind="refunds", key=make_draft_refund(), user=preparer
    )
    rows = selectors.readable_changes(
        approval_request=approval_request,
        changes={"items": {"changed": {"#1": {"amount": ["1.00", stored]}}}},
        header_labels={},
        line_labels={},
        references=None,
    )
    assert [(row.label, row.after) for row in rows] == [("Line items, line 1: Amount", shown)]
