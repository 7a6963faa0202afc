"""Detail pages read the read model: "as of", the lazy refresh, the live fallback, writes that
keep the copy true at once, contracts by number. Against the sandbox over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from portal.readmodel.models import MirroredRecord
from portal.readmodel.selectors import mirrored_records
from portal.readmodel.sync import sync_all_now
from tests.records.browse_support import seeded
from tests.records.edit_support import error_messages, form_values

pytestmark = pytest.mark.django_db

REFUNDS = "customer-refunds"


@pytest.fixture
def synced(sandbox_settings):
    """The sandbox at its seed and the copy filled from it, as the worker would."""
    sandbox_settings.reset()
    sync_all_now(full=True)
    sandbox_settings.clear_log()
    return sandbox_settings


def _draft_refund(sandbox) -> dict:
    return next(r for r in seeded(sandbox, _kind("refunds"), record_status="draft"))


def _kind(slug):
    from portal.records.kinds import get_kind

    return get_kind(slug)


def _age_copy(kind: str, key, seconds: float) -> None:
    """Make the copy of one record look `seconds` old (as if the sync had not seen it since)."""
    seen = timezone.now() - dt.timedelta(seconds=seconds)
    assert MirroredRecord.objects.filter(kind=kind, key=str(key)).update(seen_at=seen) == 1


def _copied(kind: str, key) -> MirroredRecord:
    return mirrored_records(kind=kind).get(key=str(key))


# --- reading the copy ----------------------------------------------------------------------


def test_a_change_made_outside_shows_on_the_detail_page_after_the_sync(synced, login_as, viewer):
    refund = _draft_refund(synced)
    synced.outside.edit(REFUNDS, refund["number"], memo="Changed in DualEntry's own app")
    page = login_as(viewer)
    url = f"/refunds/{refund['number']}/"
    assert "Changed in DualEntry" not in page.get(url).content.decode()  # the copy is older

    sync_all_now(kinds=["refunds"])
    synced.clear_log()
    html = page.get(url).content.decode()
    assert "Changed in DualEntry&#x27;s own app" in html
    assert synced.requests_log == []  # the page itself read only the copy
    assert "DualEntry data as of" in html


def test_a_fresh_copy_does_not_ask_to_refresh(synced, login_as, viewer):
    refund = _draft_refund(synced)
    html = login_as(viewer).get(f"/refunds/{refund['number']}/").content.decode()
    assert 'hx-trigger="load"' not in html
    assert f"/refunds/{refund['number']}/refresh/" not in html


def test_a_stale_copy_refreshes_itself_and_swaps_in_the_live_record(synced, login_as, viewer):
    refund = _draft_refund(synced)
    number = refund["number"]
    synced.outside.edit(REFUNDS, number, memo="Edited a minute ago")
    _age_copy("refunds", number, 300)
    page = login_as(viewer)

    html = page.get(f"/refunds/{number}/").content.decode()
    refresh_url = f"/refunds/{number}/refresh/"
    assert f'hx-get="{refresh_url}" hx-trigger="load"' in html
    assert f'href="{refresh_url}"' in html  # the same refresh without JavaScript
    assert "Edited a minute ago" not in html
    synced.clear_log()

    fragment = page.get(refresh_url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    text = fragment.content.decode()
    assert text.lstrip().startswith('<div id="record"')
    assert "Edited a minute ago" in text
    assert 'hx-trigger="load"' not in text  # fresh now: no second refresh
    assert [entry["method"] for entry in synced.requests_log] == ["GET"]
    assert _copied("refunds", number).memo == "Edited a minute ago"


def test_refresh_without_javascript_goes_back_to_the_page(synced, login_as, viewer):
    refund = _draft_refund(synced)
    response = login_as(viewer).get(f"/refunds/{refund['number']}/refresh/")
    assert response.status_code == 302
    assert response["Location"] == f"/refunds/{refund['number']}/"


@pytest.fixture
def tight_budget(settings):
    """A per-route budget so small that an interactive read is refused at once."""
    settings.DUALENTRY_ROUTE_RATE_PER_SECOND = 0.01
    settings.DUALENTRY_ROUTE_RATE_BURST = 1
    settings.DUALENTRY_RATE_MAX_WAIT = 0.5


def test_when_the_budget_refuses_the_page_says_how_old_the_copy_is(
    synced, login_as, viewer, tight_budget
):
    refund = _draft_refund(synced)
    number = refund["number"]
    _age_copy("refunds", number, 180)
    page = login_as(viewer)
    fragment = page.get(f"/refunds/{number}/refresh/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    text = fragment.content.decode()
    assert "Showing the copy from 3 min ago; DualEntry is busy, try again in a moment." in text
    assert 'hx-trigger="load"' not in text  # no loop of refusals
    assert synced.requests_log == []  # refused by the portal's own budget: nothing sent

    without_js = page.get(f"/refunds/{number}/refresh/", follow=True)
    assert "DualEntry is busy, try again in a moment." in without_js.content.decode()


def test_a_record_not_copied_yet_is_read_live_once_and_kept(synced, login_as, viewer):
    created = synced.outside.create(
        REFUNDS, {**_refund_body(synced), "memo": "Created a second ago"}
    )
    page = login_as(viewer)
    url = f"/refunds/{created['number']}/"
    assert "Created a second ago" in page.get(url).content.decode()
    assert _copied("refunds", created["number"]).memo == "Created a second ago"
    synced.clear_log()
    assert page.get(url).status_code == 200
    assert synced.requests_log == []


def _refund_body(sandbox) -> dict:
    from dualentry_api import spec
    from dualentry_api.sandbox.projection import project

    stored = _draft_refund(sandbox)
    body = project(spec.request_schema("POST", "/public/v2/customer-refunds/"), stored)
    return {**body, "record_status": "draft"}


def test_a_record_gone_upstream_is_the_portals_404(synced, login_as, viewer):
    refund = _draft_refund(synced)
    synced.outside.delete(REFUNDS, refund["number"])
    _age_copy("refunds", refund["number"], 300)
    page = login_as(viewer)
    refreshed = page.get(f"/refunds/{refund['number']}/refresh/")
    assert refreshed.status_code == 404
    assert not mirrored_records(kind="refunds").filter(key=str(refund["number"])).exists()
    assert page.get(f"/refunds/{refund['number']}/").status_code == 404
    assert page.get("/refunds/999999/").status_code == 404


# --- writes keep the copy true at once ------------------------------------------------------


def test_saving_a_draft_through_the_portal_shows_in_the_copy_at_once(synced, login_as, preparer):
    refund = _draft_refund(synced)
    number = refund["number"]
    client = login_as(preparer)
    data = form_values(client.get(f"/refunds/{number}/edit/").content.decode())
    data["memo"] = "Saved through the portal"
    response = client.post(f"/refunds/{number}/edit/", data)
    assert response.status_code == 302, error_messages(response.content.decode())
    assert _copied("refunds", number).memo == "Saved through the portal"  # no sync ran
    synced.clear_log()
    html = client.get(f"/refunds/{number}/").content.decode()
    assert "Saved through the portal" in html
    assert synced.requests_log == []


def test_a_new_draft_is_in_the_copy_before_its_page_is_opened(synced, login_as, preparer):
    from portal.records.kinds import REFUNDS as REFUND_KIND
    from portal.records.services import record_save_draft

    record = record_save_draft(
        kind=REFUND_KIND, key=None, payload=_refund_body(synced), user=preparer, request=None
    )
    copied = _copied("refunds", record["number"])
    assert copied.status == "draft"
    synced.clear_log()
    assert login_as(preparer).get(f"/refunds/{record['number']}/").status_code == 200
    assert synced.requests_log == []


# --- contracts are known by their number ----------------------------------------------------


def test_a_contract_number_in_the_url_leads_to_the_contract(synced, login_as, viewer):
    contract = next(iter(seeded(synced, _kind("contracts"))))
    assert contract["number"] != contract["id"]
    page = login_as(viewer)
    response = page.get(f"/contracts/{contract['number']}/")
    assert response.status_code == 302
    assert response["Location"] == f"/contracts/{contract['id']}/"
    html = page.get(response["Location"]).content.decode()
    assert f"Contract {contract['number']}" in html


def test_obligations_are_numbered_from_one(synced):
    from portal.records.selectors import obligation_labels

    contract = next(c for c in seeded(synced, _kind("contracts")) if len(c["obligations"]) > 1)
    labels = list(obligation_labels(contract=contract).values())
    assert [label.split(".")[0] for label in labels] == [str(n) for n in range(1, len(labels) + 1)]


def test_the_usage_proposal_page_names_the_contract_by_its_number(synced, login_as, preparer):
    contract = next(c for c in seeded(synced, _kind("contracts")) if c.get("obligations"))
    html = login_as(preparer).get(f"/contracts/{contract['id']}/usage/new/").content.decode()
    assert f"Propose usage for contract {contract['number']}" in html
    assert f"Propose usage for contract {contract['id']}" not in html
