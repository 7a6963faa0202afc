"""The approval pages: buttons on a record, the queue, the review page, change and archive
forms, permissions (403) and e-mail notifications."""

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from portal.approvals import selectors, services
from portal.approvals.models import ApprovalRequest
from portal.audit import actions
from portal.audit.models import AuditEvent
from portal.records.kinds import CONTRACTS, get_kind
from portal.records.models import Proposal
from portal.records.services import proposal_save

pytestmark = pytest.mark.django_db

State = ApprovalRequest.State


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _submit_url(key: str) -> str:
    return reverse("approvals:submit_record", kwargs={"kind": "refunds", "key": key})


def _detail_url(approval_request: ApprovalRequest) -> str:
    return reverse("approvals:detail", kwargs={"pk": approval_request.pk})


@pytest.fixture
def submitted(make_draft_refund, preparer):
    key = make_draft_refund(memo="Refund for the pages")
    return services.approval_submit(kind="refunds", key=key, user=preparer)


# --- the record page -----------------------------------------------------------------------


def test_record_page_offers_submission_to_preparers_only(
    make_draft_refund, login_as, preparer, viewer, approver
):
    key = make_draft_refund()
    record_url = reverse("records:detail", kwargs={"kind": "refunds", "key": key})
    page = login_as(preparer).get(record_url)
    assert page.status_code == 200
    assert _submit_url(key) in page.content.decode()
    assert "Propose a change" not in page.content.decode()  # a draft is edited, not changed
    for other in (viewer, approver):
        assert _submit_url(key) not in login_as(other).get(record_url).content.decode()


def test_preparer_submits_from_the_record_page(make_draft_refund, login_as, preparer):
    key = make_draft_refund()
    response = login_as(preparer).post(_submit_url(key), {"note": "Ticket FIN-7"})
    approval_request = ApprovalRequest.objects.get(kind="refunds", key=key)
    assert response.status_code == 302
    assert response["Location"] == _detail_url(approval_request)
    assert approval_request.note == "Ticket FIN-7"
    assert approval_request.submitted_by == preparer

    record_page = login_as(preparer).get(
        reverse("records:detail", kwargs={"kind": "refunds", "key": key})
    )
    content = record_page.content.decode()
    assert _submit_url(key) not in content
    assert _detail_url(approval_request) in content


def test_submitting_twice_from_the_page_says_so(submitted, login_as, preparer):
    response = login_as(preparer).post(_submit_url(submitted.key))
    assert response.status_code == 302
    assert any("already waiting for approval" in text for text in _messages(response))
    assert ApprovalRequest.objects.count() == 1


@pytest.mark.parametrize("persona", ["viewer", "approver"])
def test_only_preparers_may_post_a_submission(request, persona, make_draft_refund, login_as):
    key = make_draft_refund()
    response = login_as(request.getfixturevalue(persona)).post(_submit_url(key))
    assert response.status_code == 403
    assert not ApprovalRequest.objects.exists()


# --- deciding ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("persona", ["viewer", "preparer"])
def test_only_approvers_may_post_a_decision(request, persona, action, submitted, login_as):
    url = reverse(f"approvals:{action}", kwargs={"pk": submitted.pk})
    response = login_as(request.getfixturevalue(persona)).post(url, {"comment": "x"})
    assert response.status_code == 403
    submitted.refresh_from_db()
    assert submitted.state == State.SUBMITTED


def test_administrator_gets_403_approving_their_own_submission(
    make_draft_refund, login_as, admin_user, puts_to
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=admin_user)
    response = login_as(admin_user).post(
        reverse("approvals:approve", kwargs={"pk": approval_request.pk})
    )
    assert response.status_code == 403
    assert "You prepared this customer refund (submitted it for approval on" in (
        response.content.decode()
    )
    approval_request.refresh_from_db()
    assert approval_request.state == State.SUBMITTED
    assert puts_to(key) == 0
    assert AuditEvent.objects.filter(action=actions.PERMISSION_DENIED).exists()


def test_review_page_shows_the_diff_and_the_decision_buttons(submitted, login_as, approver):
    page = login_as(approver).get(_detail_url(submitted))
    assert page.status_code == 200
    content = page.content.decode()
    assert "What approval changes" in content
    assert re.search(r"Record status</th>\s*<td><del class=\"diff-old\">draft</del>", content)
    assert '<ins class="diff-new">posted</ins>' in content
    assert "Refund for the pages" in content  # the content to be sent
    assert "Approve and post" in content
    assert reverse("approvals:reject", kwargs={"pk": submitted.pk}) in content
    assert "USD 1,875.00" in content


def test_submitter_sees_no_decision_buttons_but_can_withdraw(submitted, login_as, preparer):
    content = login_as(preparer).get(_detail_url(submitted)).content.decode()
    assert "Approve and post" not in content
    assert reverse("approvals:reject", kwargs={"pk": submitted.pk}) not in content
    assert reverse("approvals:withdraw", kwargs={"pk": submitted.pk}) in content


def test_administrator_is_told_why_they_cannot_decide_their_own(
    make_draft_refund, login_as, admin_user
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=admin_user)
    content = login_as(admin_user).get(_detail_url(approval_request)).content.decode()
    assert "Approve and post" not in content
    assert "You prepared this customer refund (submitted it for approval on" in content
    assert "so someone else must approve it." in content


def test_approving_from_the_page_posts_and_reports(submitted, login_as, approver, client_api):
    response = login_as(approver).post(
        reverse("approvals:approve", kwargs={"pk": submitted.pk}), {"comment": "OK"}
    )
    assert response.status_code == 302
    assert response["Location"] == _detail_url(submitted)
    assert any("now applied in DualEntry" in text for text in _messages(response))
    submitted.refresh_from_db()
    assert submitted.state == State.POSTED
    assert client_api.customer_refunds.get(submitted.key)["record_status"] == "posted"


def test_rejecting_needs_a_comment(submitted, login_as, approver):
    client = login_as(approver)
    url = reverse("approvals:reject", kwargs={"pk": submitted.pk})
    response = client.post(url, {"comment": ""})
    assert response.status_code == 302
    assert any("comment is required" in text for text in _messages(response))
    submitted.refresh_from_db()
    assert submitted.state == State.SUBMITTED

    client.post(url, {"comment": "Wrong account."})
    submitted.refresh_from_db()
    assert submitted.state == State.REJECTED
    assert "Wrong account." in client.get(_detail_url(submitted)).content.decode()


def test_stale_request_page_explains_and_offers_no_approval(
    submitted, login_as, approver, client_api
):
    payload = selectors.current_payload(
        kind=get_kind("refunds"),
        key=submitted.key,
        record=client_api.customer_refunds.get(submitted.key),
    )
    client_api.customer_refunds.update(submitted.key, {**payload, "memo": "edited upstream"})
    content = login_as(approver).get(_detail_url(submitted)).content.decode()
    assert "Changed since submission" in content
    assert "the preparer must resubmit" in content
    assert "Approve and post" not in content


def test_queue_page_sections(submitted, login_as, approver, preparer):
    approver_page = login_as(approver).get(reverse("approvals:index")).content.decode()
    waiting = approver_page.split('id="waiting-title"')[1].split('id="mine-title"')[0]
    assert _detail_url(submitted) in waiting
    preparer_page = login_as(preparer).get(reverse("approvals:index")).content.decode()
    waiting = preparer_page.split('id="waiting-title"')[1].split('id="mine-title"')[0]
    mine = preparer_page.split('id="mine-title"')[1].split('id="decided-title"')[0]
    assert _detail_url(submitted) not in waiting
    assert _detail_url(submitted) in mine

    services.approval_reject(approval_request=submitted, user=approver, comment="No.")
    page = login_as(approver).get(reverse("approvals:index")).content.decode()
    decided = page.split('id="decided-title"')[1]
    assert _detail_url(submitted) in decided
    assert "Rejected" in decided


# --- change requests and archiving ---------------------------------------------------------


@pytest.fixture
def posted_key(submitted, approver):
    services.approval_approve(approval_request=submitted, user=approver)
    return submitted.key


def _form_data(page) -> dict:
    """What the browser would post back for an untouched edit form."""
    data = {"base": page.base}
    for form in (page.form, *page.formset.forms):
        for bound in form:
            value = bound.value()
            if value is None or (bound.name == "DELETE" and not value):
                continue
            data[bound.html_name] = value
    management = page.formset.management_form
    for bound in management:
        data[bound.html_name] = bound.value()
    return data


def test_change_request_page_reuses_the_edit_form(posted_key, login_as, preparer, puts_to):
    url = reverse("approvals:change_record", kwargs={"kind": "refunds", "key": posted_key})
    client = login_as(preparer)
    page = client.get(url)
    assert page.status_code == 200
    assert "Submit change for approval" in page.content.decode()
    data = _form_data(page.context["page"])
    data["memo"] = "Changed through the portal"
    puts_before = puts_to(posted_key)

    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    approval_request = ApprovalRequest.objects.get(
        kind="refunds", key=posted_key, type=ApprovalRequest.Type.APPLY_CHANGE
    )
    assert response["Location"] == _detail_url(approval_request)
    assert approval_request.payload["memo"] == "Changed through the portal"
    assert puts_to(posted_key) == puts_before


def test_change_page_sends_drafts_back_to_their_record(make_draft_refund, login_as, preparer):
    key = make_draft_refund()
    response = login_as(preparer).get(
        reverse("approvals:change_record", kwargs={"kind": "refunds", "key": key})
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("records:detail", kwargs={"kind": "refunds", "key": key})


def test_archive_page_files_an_archive_request(posted_key, login_as, preparer):
    url = reverse("approvals:archive_record", kwargs={"kind": "refunds", "key": posted_key})
    client = login_as(preparer)
    assert client.get(url).status_code == 200
    response = client.post(url, {"note": "Duplicate of another refund."})
    approval_request = ApprovalRequest.objects.get(type=ApprovalRequest.Type.ARCHIVE)
    assert response["Location"] == _detail_url(approval_request)
    assert approval_request.note == "Duplicate of another refund."


@pytest.mark.parametrize("persona", ["viewer", "approver"])
def test_only_preparers_open_change_and_archive_pages(request, persona, login_as):
    client = login_as(request.getfixturevalue(persona))
    for name in ("approvals:change_record", "approvals:archive_record"):
        assert client.get(reverse(name, kwargs={"kind": "refunds", "key": 1})).status_code == 403


def test_preparer_submits_a_contract_proposal_from_its_page(settings, login_as, preparer):
    settings.APPROVAL_DUAL_THRESHOLD = 1_000_000
    proposal = proposal_save(
        kind=CONTRACTS,
        action=Proposal.Action.CREATE_CONTRACT,
        payload={"status": "active", "company_id": 1, "customer_id": 110, "name": "Pages"},
        user=preparer,
    )
    client = login_as(preparer)
    proposal_page = reverse("records:proposal_detail", kwargs={"pk": proposal.pk})
    submit_url = reverse("approvals:submit_proposal", kwargs={"pk": proposal.pk})
    assert submit_url in client.get(proposal_page).content.decode()

    response = client.post(submit_url, {"next": "https://elsewhere.example/"})
    approval_request = ApprovalRequest.objects.get(proposal=proposal)
    assert response["Location"] == _detail_url(approval_request)
    assert approval_request.type == ApprovalRequest.Type.CREATE_CONTRACT

    again = client.post(submit_url, {"next": "https://elsewhere.example/"})
    assert again["Location"] == proposal_page  # never an outside address
    assert any("already waiting for approval" in text for text in _messages(again))


def test_review_page_of_a_contract_proposal(settings, login_as, preparer, approver, fresh_sandbox):
    settings.APPROVAL_DUAL_THRESHOLD = 1_000_000
    proposal = proposal_save(
        kind=CONTRACTS,
        action=Proposal.Action.CREATE_CONTRACT,
        payload={
            "status": "active",
            "company_id": 1,
            "customer_id": 110,
            "name": "Reviewed contract",
            "obligations": [{"item_id": 302, "quantity": "2", "rate": "10", "position": 0}],
        },
        user=preparer,
    )
    approval_request = services.approval_submit(kind="contracts", proposal=proposal, user=preparer)
    page = login_as(approver).get(_detail_url(approval_request))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Reviewed contract" in content
    assert "Juniper Software (110)" in content
    assert "the contract does not exist yet" in content
    assert "Approve and post" in content


# --- e-mail --------------------------------------------------------------------------------


def test_transitions_notify_the_people_concerned(
    make_draft_refund,
    preparer,
    approver,
    approver2,
    admin_user,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    key = make_draft_refund()
    with django_capture_on_commit_callbacks(execute=True):
        approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert sorted(message.to[0] for message in mailoutbox) == [
        "admin@example.com",
        "approver2@example.com",
        "approver@example.com",
    ]
    assert all(f"customer refund {key}" in message.subject for message in mailoutbox)
    assert f"/approvals/{approval_request.pk}/" in mailoutbox[0].body

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.approval_approve(approval_request=approval_request, user=approver)
    assert [(message.to[0], message.subject.split(":")[0]) for message in mailoutbox] == [
        ("preparer@example.com", "[DualEntry portal] Posted")
    ]


def test_rejection_mail_tells_the_submitter_why(
    make_draft_refund, preparer, approver, mailoutbox, django_capture_on_commit_callbacks
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    with django_capture_on_commit_callbacks(execute=True):
        services.approval_reject(
            approval_request=approval_request, user=approver, comment="Attach the bank letter."
        )
    assert [message.to for message in mailoutbox] == [["preparer@example.com"]]
    assert "Attach the bank letter." in mailoutbox[0].body


def test_retry_from_the_page_after_a_failed_post(
    make_draft_refund, preparer, approver, login_as, fail_next_put, puts_to
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    fail_next_put(503)
    client = login_as(approver)
    response = client.post(
        reverse("approvals:approve", kwargs={"pk": approval_request.pk}),
        {"payload_hash": approval_request.payload_hash},
    )
    assert any("sending customer refund" in text for text in _messages(response))
    page = client.get(_detail_url(approval_request)).content.decode()
    assert "Sending to DualEntry failed" in page
    retry_url = reverse("approvals:retry", kwargs={"pk": approval_request.pk})
    assert retry_url in page

    response = client.post(retry_url)

    assert any("now applied in DualEntry" in text for text in _messages(response))
    approval_request.refresh_from_db()
    assert approval_request.state == State.POSTED
    assert puts_to(key) == 2


def test_comment_from_the_page(submitted, login_as, approver):
    client = login_as(approver)
    client.post(reverse("approvals:comment", kwargs={"pk": submitted.pk}), {"note": "Ticket?"})
    assert "Ticket?" in client.get(_detail_url(submitted)).content.decode()
