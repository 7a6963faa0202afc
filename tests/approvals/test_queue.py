"""The approvals queue: "waiting for me" with paging, sort (oldest first), filters, and the
navigation's count badge."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from portal.approvals import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_submitted(make_draft_refund, preparer):
    requests = []
    for amount in ("50.00", "12000.00", "700.00"):
        key = make_draft_refund(amount=amount, memo=f"Queue test {amount}")
        requests.append(services.approval_submit(kind="refunds", key=key, user=preparer))
    return requests


def _queue_ids(html: str) -> list[int]:
    waiting = html.split('id="waiting-table"')[1].split('id="mine-title"')[0]
    return [int(pk) for pk in re.findall(r'href="/approvals/(\d+)/">#', waiting)]


def _badge(html: str) -> str | None:
    found = re.search(
        r'href="/approvals/"[^>]*>Approvals <span class="nav-badge".*?</span> (\d+)', html
    )
    return found.group(1) if found else None


def test_badge_counts_requests_waiting_for_me_and_not_my_own(
    three_submitted, login_as, approver, approver2, preparer, viewer
):
    assert _badge(login_as(approver).get("/").content.decode()) == "3"
    services.approval_reject(approval_request=three_submitted[0], user=approver2, comment="No.")
    assert _badge(login_as(approver).get("/").content.decode()) == "2"
    # The submitter never approves their own; a viewer approves nothing.
    assert _badge(login_as(preparer).get("/").content.decode()) is None
    assert _badge(login_as(viewer).get("/").content.decode()) is None


def test_queue_is_oldest_first_and_sorts_by_amount(three_submitted, login_as, approver):
    client = login_as(approver)
    ids = [request.pk for request in three_submitted]
    assert _queue_ids(client.get(reverse("approvals:index")).content.decode()) == ids
    html = client.get(reverse("approvals:index"), {"sort": "-amount"}).content.decode()
    assert _queue_ids(html) == [ids[1], ids[2], ids[0]]
    assert 'aria-sort="descending"' in html


def test_queue_filters_by_amount_and_submitter_and_pages(
    three_submitted, login_as, approver, preparer
):
    client = login_as(approver)
    html = client.get(reverse("approvals:index"), {"amount_min": "600", "amount_max": "12,000.00"})
    assert _queue_ids(html.content.decode()) == [three_submitted[1].pk, three_submitted[2].pk]
    html = client.get(reverse("approvals:index"), {"preparer": str(preparer.pk), "limit": "25"})
    assert len(_queue_ids(html.content.decode())) == 3
    html = client.get(reverse("approvals:index"), {"age": "7"}).content.decode()
    assert _queue_ids(html) == []  # none has waited a week


def test_queue_bad_input_is_explained_not_a_500(three_submitted, login_as, approver):
    response = login_as(approver).get(
        reverse("approvals:index"), {"sort": "secret", "amount_min": "abc", "kind": "x"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Some values were not used" in html
    assert "cannot be sorted by" in html and "is not an amount" in html
    assert len(_queue_ids(html)) == 3


def test_queue_htmx_answer_is_the_table(three_submitted, login_as, approver):
    response = login_as(approver).get(
        reverse("approvals:index"), {"sort": "amount"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="queue-sort" value="amount" hx-swap-oob="true"' in html
