"""What is kept in the portal until approved: change requests, archiving, new contracts and
contract usage batches. Nothing reaches DualEntry before approval; approval sends it once."""

from decimal import Decimal

import pytest

from dualentry_api.errors import ServerError
from portal.approvals import selectors, services
from portal.approvals.models import ApprovalRequest
from portal.audit import actions
from portal.audit.models import AuditEvent
from portal.records.kinds import CONTRACTS, REFUNDS
from portal.records.models import Proposal
from portal.records.services import proposal_save

pytestmark = pytest.mark.django_db

State = ApprovalRequest.State
CONTRACTS_PATH = "/public/v2/contracts/"


@pytest.fixture
def posted_refund(make_draft_refund, preparer, approver):
    """A refund posted through the workflow (so the portal knows what it sent)."""
    key = make_draft_refund(memo="Posted before the change")
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert services.approval_approve(approval_request=approval_request, user=approver).state == (
        State.POSTED
    )
    return key


def _current(client_api, key: str) -> dict:
    record = client_api.customer_refunds.get(key)
    return selectors.current_payload(kind=REFUNDS, key=key, record=record)


# --- change requests -----------------------------------------------------------------------


def test_change_request_on_a_posted_record_is_applied_only_when_approved(
    posted_refund, preparer, approver2, client_api, puts_to
):
    key = posted_refund
    puts_before = puts_to(key)
    proposed = {**_current(client_api, key), "memo": "Corrected memo"}

    approval_request = services.change_request_submit(
        kind="refunds", key=key, payload=proposed, user=preparer, note="Typo in the memo."
    )

    assert approval_request.type == ApprovalRequest.Type.APPLY_CHANGE
    assert approval_request.proposal.action == Proposal.Action.CHANGE_RECORD
    assert approval_request.proposal.payload["memo"] == "Corrected memo"
    assert approval_request.proposal.base_snapshot == approval_request.snapshot
    assert puts_to(key) == puts_before  # kept in the portal, not sent
    assert client_api.customer_refunds.get(key)["memo"] == "Posted before the change"

    approval_request = services.approval_approve(approval_request=approval_request, user=approver2)

    assert approval_request.state == State.POSTED
    assert puts_to(key) == puts_before + 1
    changed = client_api.customer_refunds.get(key)
    assert changed["memo"] == "Corrected memo"
    assert changed["record_status"] == "posted"
    approval_request.proposal.refresh_from_db()
    assert approval_request.proposal.result_key == key
    change_event = AuditEvent.objects.get(kind="refunds", key=key, action=actions.CHANGE_REQUESTED)
    assert change_event.changes == {"memo": ["Posted before the change", "Corrected memo"]}


def test_change_request_is_refused_when_nothing_changes(posted_refund, preparer, client_api):
    with pytest.raises(services.ApprovalError, match="same as the posted one"):
        services.change_request_submit(
            kind="refunds", key=posted_refund, payload=_current(client_api, posted_refund),
            user=preparer,
        )  # fmt: skip
    assert not Proposal.objects.exists()


def test_change_request_is_only_for_posted_records(make_draft_refund, preparer, client_api):
    key = make_draft_refund()
    with pytest.raises(services.ApprovalError, match="only posted records"):
        services.change_request_submit(
            kind="refunds", key=key, payload={**_current(client_api, key), "memo": "x"},
            user=preparer,
        )  # fmt: skip


def test_change_request_prepared_on_an_older_version_is_refused(
    posted_refund, preparer, client_api
):
    base = _current(client_api, posted_refund)
    client_api.customer_refunds.update(posted_refund, {**base, "memo": "Someone else's edit"})
    with pytest.raises(services.StaleRecord, match="since you opened the form"):
        services.change_request_submit(
            kind="refunds", key=posted_refund, payload={**base, "memo": "Mine"},
            base_payload=base, user=preparer,
        )  # fmt: skip


def test_change_request_approval_is_blocked_when_the_posted_record_changed(
    posted_refund, preparer, approver, client_api, puts_to
):
    base = _current(client_api, posted_refund)
    approval_request = services.change_request_submit(
        kind="refunds", key=posted_refund, payload={**base, "memo": "Proposed"}, user=preparer
    )
    client_api.customer_refunds.update(posted_refund, {**base, "memo": "Changed in DualEntry"})
    puts_before = puts_to(posted_refund)
    with pytest.raises(services.StaleRecord, match="the preparer must resubmit"):
        services.approval_approve(approval_request=approval_request, user=approver)
    assert puts_to(posted_refund) == puts_before
    assert client_api.customer_refunds.get(posted_refund)["memo"] == "Changed in DualEntry"


def test_proposal_edited_after_submission_cannot_be_approved(posted_refund, preparer, approver):
    approval_request = services.archive_request_submit(
        kind="refunds", key=posted_refund, user=preparer
    )
    Proposal.objects.filter(pk=approval_request.proposal_id).update(
        payload={**approval_request.payload, "memo": "slipped in after submission"}
    )
    approval_request.refresh_from_db()
    with pytest.raises(services.ApprovalError, match="edited after it was submitted"):
        services.approval_approve(approval_request=approval_request, user=approver)


def test_archiving_a_posted_record(posted_refund, preparer, approver2, client_api, puts_to):
    puts_before = puts_to(posted_refund)
    approval_request = services.archive_request_submit(
        kind="refunds", key=posted_refund, user=preparer
    )
    assert approval_request.type == ApprovalRequest.Type.ARCHIVE
    assert approval_request.payload["record_status"] == "archived"
    assert puts_to(posted_refund) == puts_before

    approval_request = services.approval_approve(approval_request=approval_request, user=approver2)

    assert approval_request.state == State.POSTED
    assert client_api.customer_refunds.get(posted_refund)["record_status"] == "archived"
    assert puts_to(posted_refund) == puts_before + 1
    assert AuditEvent.objects.filter(
        kind="refunds", key=posted_refund, action=actions.ARCHIVE_REQUESTED
    ).exists()
    with pytest.raises(services.ApprovalError, match="already archived"):
        services.archive_request_submit(kind="refunds", key=posted_refund, user=preparer)


# --- contracts -----------------------------------------------------------------------------


def _contract_payload(name: str = "Approval test subscription") -> dict:
    return {
        "status": "active",
        "company_id": 1,
        "customer_id": 110,
        "name": name,
        "currency_iso_4217_code": "USD",
        "date": "2026-11-01",
        "start_date": "2026-12-01",
        "end_date": "2027-11-30",
        "memo": "Signed order form",
        "obligations": [
            {"item_id": 302, "quantity": Decimal("12"), "rate": Decimal("950"), "position": 0}
        ],
    }


@pytest.fixture
def contract_proposal(settings, preparer, fresh_sandbox):
    settings.APPROVAL_DUAL_THRESHOLD = 1_000_000  # one approver unless a test says otherwise
    return proposal_save(
        kind=CONTRACTS,
        action=Proposal.Action.CREATE_CONTRACT,
        payload=_contract_payload(),
        user=preparer,
    )


def _contracts_named(client_api, name: str) -> list:
    return [
        contract
        for contract in client_api.contracts.iterate(filters={"customer_id": [110]})
        if contract["name"] == name
    ]


def test_contract_proposal_is_created_once_when_approved(
    settings, contract_proposal, preparer, approver, approver2, client_api, fresh_sandbox
):
    settings.APPROVAL_DUAL_THRESHOLD = 10000
    approval_request = services.approval_submit(
        kind="contracts", proposal=contract_proposal, user=preparer
    )
    assert approval_request.type == ApprovalRequest.Type.CREATE_CONTRACT
    assert approval_request.amount == Decimal("11400")
    assert approval_request.required_approvals == 2
    assert approval_request.snapshot is None
    assert fresh_sandbox.request_count(CONTRACTS_PATH, method="POST") == 0

    services.approval_approve(approval_request=approval_request, user=approver)
    assert fresh_sandbox.request_count(CONTRACTS_PATH, method="POST") == 0
    approval_request = services.approval_approve(approval_request=approval_request, user=approver2)

    assert approval_request.state == State.POSTED, approval_request.post_error
    assert fresh_sandbox.request_count(CONTRACTS_PATH, method="POST") == 1
    contract_proposal.refresh_from_db()
    assert contract_proposal.result_key == approval_request.upstream_key
    created = client_api.contracts.get(approval_request.upstream_key)
    assert created["name"] == "Approval test subscription"
    assert created["amount"] == Decimal("11400.00")
    assert len(_contracts_named(client_api, "Approval test subscription")) == 1
    with pytest.raises(services.ApprovalError, match="already been applied"):
        services.approval_submit(kind="contracts", proposal=contract_proposal, user=preparer)
    proposal_key = f"proposal-{contract_proposal.pk}"
    assert [
        event.action
        for event in AuditEvent.objects.filter(kind="contracts", key=proposal_key).order_by(
            "sequence"
        )
        if event.action != actions.PROPOSAL_SAVED
    ] == [actions.SUBMITTED, actions.APPROVED, actions.APPROVED]
    assert AuditEvent.objects.filter(
        kind="contracts", key=approval_request.upstream_key, action=actions.POSTED
    ).exists()


def test_contract_create_whose_answer_was_lost_is_found_on_retry(
    intercept_upstream, contract_proposal, preparer, approver, client_api, fresh_sandbox
):
    state = {"armed": True}

    def intercept(method, template, send):
        answer = send()
        if method == "POST" and template.endswith("/contracts/") and state["armed"]:
            state["armed"] = False
            raise ServerError("gateway timeout", method="POST", path=template, status=504)
        return answer

    intercept_upstream(intercept)
    approval_request = services.approval_submit(
        kind="contracts", proposal=contract_proposal, user=preparer
    )
    approval_request = services.approval_approve(approval_request=approval_request, user=approver)
    assert approval_request.state == State.POST_FAILED
    assert fresh_sandbox.request_count(CONTRACTS_PATH, method="POST") == 1

    approval_request = services.approval_retry(approval_request=approval_request, user=approver)

    assert approval_request.state == State.POSTED
    assert fresh_sandbox.request_count(CONTRACTS_PATH, method="POST") == 1
    assert len(_contracts_named(client_api, "Approval test subscription")) == 1
    assert approval_request.upstream_key == str(
        _contracts_named(client_api, "Approval test subscription")[0]["id"]
    )


# --- usage batches -------------------------------------------------------------------------


@pytest.fixture
def contract_with_obligation(client_api, preparer, approver, contract_proposal):
    approval_request = services.approval_submit(
        kind="contracts", proposal=contract_proposal, user=preparer
    )
    approval_request = services.approval_approve(approval_request=approval_request, user=approver)
    contract = client_api.contracts.get(approval_request.upstream_key)
    return str(contract["id"]), contract["obligations"][0]["id"]


def _usage_batch(contract_id: str, obligation_id: int, preparer) -> Proposal:
    batch = {
        "items": [
            {"obligation_id": obligation_id, "usage_date": "2026-12-05", "quantity": "3"},
            {
                "obligation_id": obligation_id,
                "usage_date": "2026-12-06",
                "quantity": "2.5",
                "rate": "900",
                "memo": "Discounted day",
            },
        ]
    }
    return proposal_save(
        kind=CONTRACTS,
        action=Proposal.Action.UPSERT_USAGE,
        payload=batch,
        target_key=contract_id,
        user=preparer,
    )


def _usage_rows(client_api, contract_id: str) -> list[tuple[str, Decimal]]:
    return sorted(
        (row["usage_date"].isoformat(), row["quantity"])
        for row in client_api.contracts.iterate_usage(contract_id)
    )


def test_usage_batch_is_upserted_exactly_as_approved(
    contract_with_obligation, preparer, approver2, client_api, fresh_sandbox
):
    contract_id, obligation_id = contract_with_obligation
    upsert_path = f"{CONTRACTS_PATH}{contract_id}/usage/bulk-upsert/"
    proposal = _usage_batch(contract_id, obligation_id, preparer)
    approval_request = services.approval_submit(kind="contracts", proposal=proposal, user=preparer)
    assert approval_request.type == ApprovalRequest.Type.UPSERT_USAGE
    assert approval_request.key == contract_id
    assert approval_request.amount == Decimal("5100")  # 3 x 950 + 2.5 x 900
    assert fresh_sandbox.request_count(upsert_path) == 0
    assert _usage_rows(client_api, contract_id) == []

    approval_request = services.approval_approve(approval_request=approval_request, user=approver2)

    assert approval_request.state == State.POSTED, approval_request.post_error
    assert fresh_sandbox.request_count(upsert_path) == 1
    assert _usage_rows(client_api, contract_id) == [
        ("2026-12-05", Decimal("3")),
        ("2026-12-06", Decimal("2.5")),
    ]
    proposal.refresh_from_db()
    assert proposal.result_key == contract_id


def test_usage_batch_whose_answer_was_lost_is_not_upserted_twice(
    intercept_upstream, contract_with_obligation, preparer, approver2, client_api, fresh_sandbox
):
    contract_id, obligation_id = contract_with_obligation
    upsert_path = f"{CONTRACTS_PATH}{contract_id}/usage/bulk-upsert/"
    state = {"armed": True}

    def intercept(method, template, send):
        answer = send()
        if template.endswith("/bulk-upsert/") and state["armed"]:
            state["armed"] = False
            raise ServerError("bad gateway", method="POST", path=template, status=502)
        return answer

    intercept_upstream(intercept)
    proposal = _usage_batch(contract_id, obligation_id, preparer)
    approval_request = services.approval_submit(kind="contracts", proposal=proposal, user=preparer)
    approval_request = services.approval_approve(approval_request=approval_request, user=approver2)
    assert approval_request.state == State.POST_FAILED

    approval_request = services.approval_retry(approval_request=approval_request, user=preparer)

    assert approval_request.state == State.POSTED
    assert fresh_sandbox.request_count(upsert_path) == 1
    assert len(_usage_rows(client_api, contract_id)) == 2


# --- the read model is kept true by the postings ---------------------------------------------


def test_a_created_contract_and_its_new_usage_are_in_the_copy_at_once(
    contract_with_obligation, preparer, approver, client_api
):
    from portal.readmodel.selectors import mirrored_records
    from portal.readmodel.services import json_copy

    contract_id, obligation_id = contract_with_obligation
    copied = mirrored_records(kind="contracts").get(key=contract_id)  # no sync ran
    assert copied.name == "Approval test subscription"
    assert not copied.needs_detail  # from the read-back: obligations included
    usage_before = copied.data.get("obligation_usage")

    batch = _usage_batch(contract_id, obligation_id, preparer)
    approval_request = services.approval_submit(kind="contracts", proposal=batch, user=preparer)
    approval_request = services.approval_approve(approval_request=approval_request, user=approver)
    assert approval_request.state == State.POSTED, approval_request.post_error

    copied = mirrored_records(kind="contracts").get(key=contract_id)
    live = json_copy(client_api.contracts.get(contract_id))
    assert copied.data["obligation_usage"] == live["obligation_usage"] != usage_before
