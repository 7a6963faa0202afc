"""Contracts and usage batches are proposals kept in the portal until approved: validated like
drafts, editable with the same stale check, never sent to DualEntry from here."""

from __future__ import annotations

import re
from html import unescape

import pytest

from portal.audit.models import AuditEvent
from portal.records.models import Proposal
from tests.records.edit_support import SEATS, contract_form, error_messages, form_values, with_lines

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()


def _token(client, url: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', client.get(url).content.decode())[1]


def contract_data(token: str) -> dict:
    lines = [{"item_id": "301", **SEATS}]
    return contract_form(token, memo="Signed 2024-12-20", lines=lines, blank=1)


CONTRACT_PAYLOAD = {
    "name": "Bluebird platform 2025",
    "memo": "Signed 2024-12-20",
    "date": "2025-01-01",
    "start_date": "2025-01-01",
    "end_date": "2025-12-31",
    "company_id": 1,
    "customer_id": 102,
    "currency_iso_4217_code": "USD",
    "bill_to_address": "",
    "ship_to_address": "",
    "billing_frequency": "monthly",
    "billing_interval": 1,
    "recognition_frequency": "monthly",
    "recognition_interval": 1,
    "status": "draft",
    "obligations": [{"item_id": 301, **SEATS, "is_auto_renewable": False, "position": 0}],
}


def _create_contract(client) -> Proposal:
    response = client.post("/contracts/new/", contract_data(_token(client, "/contracts/new/")))
    assert response.status_code == 302, error_messages(response.content.decode())
    proposal = Proposal.objects.get()
    assert response["Location"] == f"/contracts/proposals/{proposal.pk}/"
    return proposal


def test_new_contract_is_kept_as_a_proposal(login_as, preparer, sandbox):
    client = login_as(preparer)
    page = unescape(client.get("/contracts/new/").content.decode())
    assert "kept in the portal as a proposal" in page
    proposal = _create_contract(client)
    assert proposal.action == Proposal.Action.CREATE_CONTRACT
    assert proposal.payload == CONTRACT_PAYLOAD
    assert proposal.company_id == 1 and proposal.created_by == preparer
    assert sandbox.request_count("/public/v2/contracts/", "POST") == 0  # nothing sent
    event = AuditEvent.objects.get(action="proposal_saved")
    assert event.kind == "contracts" and event.key == f"proposal-{proposal.pk}"


def test_contract_double_submit_keeps_one_proposal(login_as, preparer):
    client = login_as(preparer)
    data = contract_data(_token(client, "/contracts/new/"))
    first = client.post("/contracts/new/", data)
    second = client.post("/contracts/new/", data)
    assert first["Location"] == second["Location"]
    assert Proposal.objects.count() == 1


def test_invalid_contract_is_not_kept(login_as, preparer):
    client = login_as(preparer)
    data = contract_data(_token(client, "/contracts/new/"))
    data["end_date"] = "2024-06-30"
    response = client.post("/contracts/new/", data)
    assert response.status_code == 422
    assert "End date: 2024-06-30 is before the start date (2025-01-01)" in unescape(
        response.content.decode()
    )
    assert not Proposal.objects.exists()


def test_proposal_detail_shows_what_will_be_created(login_as, preparer, viewer):
    proposal = _create_contract(login_as(preparer))
    page = unescape(login_as(viewer).get(f"/contracts/proposals/{proposal.pk}/").content.decode())
    assert "Bluebird platform 2025" in page and "Bluebird Bakeries" in page
    assert "Platform subscription" in page and "99.5" in page
    assert "Edit proposal" not in page  # viewers cannot edit
    preparer_page = login_as(preparer).get(f"/contracts/proposals/{proposal.pk}/").content.decode()
    assert f"/contracts/proposals/{proposal.pk}/edit/" in preparer_page
    assert f"/contracts/proposals/{proposal.pk}/submit/" in preparer_page


def test_proposal_edit_saves_the_new_body(login_as, preparer):
    client = login_as(preparer)
    proposal = _create_contract(client)
    data = form_values(client.get(f"/contracts/proposals/{proposal.pk}/edit/").content.decode())
    data["name"] = "Bluebird platform 2025 (revised)"
    data["items-0-quantity"] = "24"
    response = client.post(f"/contracts/proposals/{proposal.pk}/edit/", data)
    assert response.status_code == 302, error_messages(response.content.decode())
    proposal.refresh_from_db()
    assert proposal.payload["name"] == "Bluebird platform 2025 (revised)"
    assert proposal.payload["obligations"][0]["quantity"] == "24"
    event = AuditEvent.objects.filter(action="proposal_saved").order_by("-sequence").first()
    assert event.changes["name"] == ["Bluebird platform 2025", "Bluebird platform 2025 (revised)"]


def test_stale_proposal_edit_is_refused_and_input_kept(login_as, preparer):
    client = login_as(preparer)
    proposal = _create_contract(client)
    mine = form_values(client.get(f"/contracts/proposals/{proposal.pk}/edit/").content.decode())
    theirs = dict(mine)
    theirs["memo"] = "Changed by a colleague"
    assert client.post(f"/contracts/proposals/{proposal.pk}/edit/", theirs).status_code == 302
    mine["name"] = "My name for it"
    refused = client.post(f"/contracts/proposals/{proposal.pk}/edit/", mine)
    html = unescape(refused.content.decode())
    assert refused.status_code == 409
    assert "Changed by a colleague" in html
    assert form_values(html)["name"] == "My name for it"
    proposal.refresh_from_db()
    assert proposal.payload["name"] == "Bluebird platform 2025"
    again = client.post(f"/contracts/proposals/{proposal.pk}/edit/", form_values(html))
    assert again.status_code == 302
    proposal.refresh_from_db()
    assert proposal.payload["name"] == "My name for it"


def test_proposal_waiting_for_approval_cannot_be_edited(login_as, preparer):
    from portal.approvals.models import ApprovalRequest

    client = login_as(preparer)
    proposal = _create_contract(client)
    data = form_values(client.get(f"/contracts/proposals/{proposal.pk}/edit/").content.decode())
    ApprovalRequest.objects.create(
        type="create_contract", kind="contracts", key="", proposal=proposal,
        payload=proposal.payload, payload_hash="x", submitted_by=preparer,
    )  # fmt: skip
    response = client.get(f"/contracts/proposals/{proposal.pk}/edit/", follow=True)
    assert "waiting for approval" in unescape(response.content.decode())
    data["name"] = "Sneaky"
    assert client.post(f"/contracts/proposals/{proposal.pk}/edit/", data).status_code == 302
    proposal.refresh_from_db()
    assert proposal.payload["name"] == "Bluebird platform 2025"


def test_applied_proposal_cannot_be_edited(login_as, preparer):
    client = login_as(preparer)
    proposal = _create_contract(client)
    Proposal.objects.filter(pk=proposal.pk).update(result_key="777")
    response = client.get(f"/contracts/proposals/{proposal.pk}/edit/", follow=True)
    assert "was applied in DualEntry" in unescape(response.content.decode())


# --- usage batches -----------------------------------------------------------------------------


def _contract_with_obligation(sandbox) -> tuple[int, int]:
    for contract in sandbox.store.collection("contracts").values():
        if contract["obligations"]:
            return contract["id"], contract["obligations"][0]["id"]
    raise LookupError("no contract with obligations in the seed")


def test_usage_batch_is_kept_as_a_proposal(login_as, preparer, sandbox):
    contract_id, obligation_id = _contract_with_obligation(sandbox)
    client = login_as(preparer)
    page = client.get(f"/contracts/{contract_id}/usage/new/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'action="/contracts/{contract_id}/usage/"' in html
    token = re.search(r'name="form_token" value="([^"]+)"', html)[1]
    lines = [
        {"obligation_id": obligation_id, "usage_date": "2025-02-01", "quantity": "1500"},
        {"obligation_id": obligation_id, "usage_date": "2025-02-02", "quantity": "2.5",
         "rate": "0.0125", "memo": "Overage"},
    ]  # fmt: skip
    data = with_lines({"form_token": token}, lines, blank=1)
    response = client.post(f"/contracts/{contract_id}/usage/", data)
    assert response.status_code == 302, error_messages(response.content.decode())
    proposal = Proposal.objects.get(action=Proposal.Action.UPSERT_USAGE)
    assert proposal.target_key == str(contract_id)
    assert proposal.payload == {
        "items": [
            {"obligation_id": obligation_id, "usage_date": "2025-02-01", "quantity": "1500",
             "memo": ""},
            {"obligation_id": obligation_id, "usage_date": "2025-02-02", "quantity": "2.5",
             "rate": "0.0125", "memo": "Overage"},
        ]
    }  # fmt: skip
    assert sandbox.request_count(f"/public/v2/contracts/{contract_id}/usage/bulk-upsert/") == 0
    assert client.post(f"/contracts/{contract_id}/usage/", data)["Location"] == response["Location"]
    assert Proposal.objects.filter(action=Proposal.Action.UPSERT_USAGE).count() == 1


def test_usage_page_still_lists_usage(login_as, preparer, sandbox):
    contract_id, _ = _contract_with_obligation(sandbox)
    response = login_as(preparer).get(f"/contracts/{contract_id}/usage/")
    assert response.status_code == 200
    assert "Usage of contract" in response.content.decode()


def test_usage_line_must_name_one_of_the_contracts_obligations(login_as, preparer, sandbox):
    contract_id, _ = _contract_with_obligation(sandbox)
    client = login_as(preparer)
    token = _token(client, f"/contracts/{contract_id}/usage/new/")
    data = with_lines(
        {"form_token": token}, [{"obligation_id": "1", "usage_date": "2025-02-01", "quantity": "1"}]
    )
    response = client.post(f"/contracts/{contract_id}/usage/", data)
    assert response.status_code == 422
    assert "Obligation: 1 is not one of the choices; choose one from the list." in error_messages(
        response.content.decode()
    )


def test_usage_proposal_can_be_edited(login_as, preparer, sandbox):
    contract_id, obligation_id = _contract_with_obligation(sandbox)
    client = login_as(preparer)
    token = _token(client, f"/contracts/{contract_id}/usage/new/")
    data = with_lines(
        {"form_token": token},
        [{"obligation_id": obligation_id, "usage_date": "2025-02-01", "quantity": "10"}],
    )
    client.post(f"/contracts/{contract_id}/usage/", data)
    proposal = Proposal.objects.get()
    values = form_values(client.get(f"/contracts/proposals/{proposal.pk}/edit/").content.decode())
    assert values["items-0-quantity"] == "10"
    values["items-0-quantity"] = "12"
    response = client.post(f"/contracts/proposals/{proposal.pk}/edit/", values)
    assert response.status_code == 302, error_messages(response.content.decode())
    proposal.refresh_from_db()
    assert proposal.payload["items"][0]["quantity"] == "12"


def test_only_preparers_edit_proposals(login_as, preparer, approver, viewer):
    proposal = _create_contract(login_as(preparer))
    for user in (approver, viewer):
        client = login_as(user)
        assert client.get(f"/contracts/proposals/{proposal.pk}/edit/").status_code == 403
        assert client.get(f"/contracts/proposals/{proposal.pk}/").status_code == 200
