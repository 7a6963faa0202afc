"""Detail pages of every kind, contract usage, drafts across kinds, the names refresh and the
dashboard, against the sandbox."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils.html import escape

from portal.approvals.models import ApprovalRequest
from portal.audit import actions
from portal.audit.services import audit_record
from portal.records.kinds import KINDS, get_kind
from portal.records.templatetags.records import money
from tests.records.browse_support import (
    API,
    EN_DASH,
    KIND_PARAMS,
    list_requests,
    one_with_lines,
    query_of,
    seeded,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def browse(sandbox_settings, sandbox, login_as, viewer):
    sandbox.reset()
    return login_as(viewer)


def _detail_url(kind, record) -> str:
    return f"/{kind.slug}/{record[kind.key_field]}/"


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_detail_page_shows_labelled_fields_lines_and_totals(browse, sandbox, slug):
    kind = get_kind(slug)
    record = one_with_lines(sandbox, kind)
    response = browse.get(_detail_url(kind, record))
    assert response.status_code == 200
    html = response.content.decode()
    for column in kind.detail_fields:
        assert f"<dt>{column.label}</dt>" in html
    lines_section = kind.detail_sections[0]
    lines = record[lines_section.field]
    part = response.context["sections"][0]
    assert part.section == lines_section
    assert len(part.rows) == len(lines)
    currency = record["currency_iso_4217_code"]
    for field in lines_section.totals:
        total = sum(Decimal(line[field]) for line in lines if line.get(field) is not None)
        assert money(total, currency) in html
    assert money(Decimal(record["amount"]), currency) in html


@pytest.mark.parametrize("slug", ["refunds", "deposits", "credits"])
def test_posting_date_and_transaction_date_are_explained(browse, sandbox, slug):
    kind = get_kind(slug)
    html = browse.get(_detail_url(kind, seeded(sandbox, kind)[0])).content.decode()
    assert "general ledger" in html
    assert "actually happened" in html


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_detail_context_has_the_record_its_history_and_approval_request(browse, sandbox, slug):
    kind = get_kind(slug)
    record = seeded(sandbox, kind)[0]
    key = str(record[kind.key_field])
    audit_record(actor=None, action=actions.RECORD_UPDATED, kind=slug, key=key, summary="Seen")
    response = browse.get(_detail_url(kind, record))
    context = response.context
    assert context["kind"] is kind
    assert context["key"] == key
    assert context["record"][kind.key_field] == record[kind.key_field]
    assert [event.summary for event in context["history"]] == ["Seen"]
    assert context["approval_request"] is None
    assert context["can_edit"] is False  # viewers never edit
    assert "Seen" in response.content.decode()


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_detail_page_reads_the_copy_with_no_upstream_call(browse, sandbox, slug):
    kind = get_kind(slug)
    url = _detail_url(kind, one_with_lines(sandbox, kind))
    browse.get(url)  # not copied yet: one live read of the record (and the names), kept
    sandbox.clear_log()
    response = browse.get(url)
    assert response.status_code == 200
    assert sandbox.requests_log == []
    assert "DualEntry data as of" in response.content.decode()


def test_refund_names_come_from_reference_lists_and_settings(browse, sandbox, settings):
    kind = KINDS["refunds"]
    refund = next(r for r in seeded(sandbox, kind) if r.get("payment_method_id"))
    account = next(
        account
        for account in sandbox.store.collection("accounts").values()
        if account["number"] == refund["account_number"]
    )
    html = browse.get(_detail_url(kind, refund)).content.decode()
    assert settings.PAYMENT_METHODS[refund["payment_method_id"]] in html
    assert f"{account['number']} · {account['name']}" in html


def test_deposit_lines_name_customers_and_vendors_and_say_amounts_are_missing(browse, sandbox):
    kind = KINDS["deposits"]
    deposit = next(
        d for d in seeded(sandbox, kind) if any(i.get("customer_id") for i in d["items"])
    )
    customer_id = next(i["customer_id"] for i in deposit["items"] if i.get("customer_id"))
    customer = sandbox.store.get("customers", customer_id)
    html = browse.get(_detail_url(kind, deposit)).content.decode()
    assert escape(customer["name"]) in html
    assert "does not return the amounts of deposit lines" in html


def test_credit_lines_name_their_items(browse, sandbox):
    kind = KINDS["credits"]
    credit = one_with_lines(sandbox, kind)
    item = sandbox.store.get("items", credit["items"][0]["item_id"])
    html = browse.get(_detail_url(kind, credit)).content.decode()
    assert f'<span title="Id {item["id"]}">{escape(item["name"])}</span>' in html


def test_contract_shows_obligations_and_usage_with_a_link_to_all_usage(browse, sandbox):
    usage = next(iter(sandbox.store.state["collections"]["contract-usage"].values()))
    contract = sandbox.store.get("contracts", usage["contract_id"])
    response = browse.get(f"/contracts/{contract['id']}/")
    html = response.content.decode()
    sections = {part.section.field: part for part in response.context["sections"]}
    assert len(sections["obligations"].rows) == len(contract["obligations"])
    assert {"revenue_recognitions", "invoices", "obligation_usage"} <= set(sections)
    assert f'href="/contracts/{contract["id"]}/usage/"' in html


def test_unknown_record_is_a_404_in_the_portal_layout(browse, sandbox):
    response = browse.get("/refunds/987654/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "DualEntry has no customer refund 987654" in html
    assert "site-nav" in html
    assert len(sandbox.requests_log) == 1


def test_non_numeric_key_is_a_404_without_asking_dualentry(browse, sandbox):
    assert browse.get("/refunds/abc/").status_code == 404
    assert sandbox.requests_log == []


def test_preparer_may_edit_a_draft_without_an_open_approval_request(
    sandbox_settings, sandbox, login_as, preparer, approver
):
    sandbox.reset()
    kind = KINDS["refunds"]
    draft = seeded(sandbox, kind, record_status="draft")[0]
    posted = seeded(sandbox, kind, record_status="posted")[0]
    client = login_as(preparer)
    assert client.get(_detail_url(kind, draft)).context["can_edit"] is True
    assert client.get(_detail_url(kind, posted)).context["can_edit"] is False
    ApprovalRequest.objects.create(
        type=ApprovalRequest.Type.POST_DRAFT,
        kind="refunds",
        key=str(draft["number"]),
        payload={},
        payload_hash="0" * 64,
        submitted_by=approver,
    )
    response = client.get(_detail_url(kind, draft))
    assert response.context["approval_request"] is not None
    assert response.context["can_edit"] is False
    assert "cannot be edited while the request is open" in response.content.decode()


def test_contracts_are_never_editable_in_place(sandbox_settings, sandbox, login_as, preparer):
    sandbox.reset()
    contract = seeded(sandbox, KINDS["contracts"], status="draft")[0]
    response = login_as(preparer).get(f"/contracts/{contract['id']}/")
    assert response.context["can_edit"] is False


def test_viewer_without_view_permission_gets_403(sandbox_settings, login_as, viewer):
    viewer.groups.clear()
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="portal", codename="view_audit_log")
    )
    assert login_as(viewer).get("/refunds/").status_code == 403


# --- contract usage ------------------------------------------------------------------------


def _contract_with_usage(sandbox) -> tuple[dict, list[dict]]:
    usage = list(sandbox.store.state["collections"]["contract-usage"].values())
    contract_id = max({u["contract_id"] for u in usage}, key=lambda c: sum(
        1 for u in usage if u["contract_id"] == c))  # fmt: skip
    return sandbox.store.get("contracts", contract_id), [
        u for u in usage if u["contract_id"] == contract_id
    ]


def test_usage_page_lists_a_contracts_usage_with_obligation_names(browse, sandbox):
    contract, usage = _contract_with_usage(sandbox)
    response = browse.get(f"/contracts/{contract['id']}/usage/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"1{EN_DASH}{min(len(usage), 50)} of {len(usage)}" in html
    obligation = next(o for o in contract["obligations"] if o["id"] == usage[0]["obligation_id"])
    assert escape(obligation["memo"]) in html
    paths = [entry["path"] for entry in sandbox.requests_log]
    assert f"{API}contracts/{contract['id']}/usage/" in paths


def test_usage_page_filters_by_status(browse, sandbox):
    contract, usage = _contract_with_usage(sandbox)
    status = usage[0]["status"]
    wanted = [u for u in usage if u["status"] == status]
    response = browse.get(f"/contracts/{contract['id']}/usage/", {"status": status})
    assert response.context["page"].count == len(wanted)


def test_usage_of_an_unknown_contract_is_a_404(browse):
    assert browse.get("/contracts/999999/usage/").status_code == 404


def test_usage_htmx_request_gets_only_the_table(browse, sandbox):
    contract, _ = _contract_with_usage(sandbox)
    response = browse.get(f"/contracts/{contract['id']}/usage/", headers={"HX-Request": "true"})
    assert "<html" not in response.content.decode()
    assert "HX-Request" in response["Vary"]


# --- drafts across kinds -------------------------------------------------------------------


def test_drafts_page_lists_drafts_of_every_kind_newest_first(browse, sandbox):
    response = browse.get("/drafts/")
    assert response.status_code == 200
    overview = response.context["overview"]
    for kind in KINDS.values():
        status = {kind.status_field: "draft"}
        assert overview.counts[kind.slug] == len(seeded(sandbox, kind, **status))
    assert {row.kind.slug for row in overview.rows} == set(KINDS)
    times = [row.created_at for row in overview.rows]
    assert times == sorted(times, reverse=True)
    for kind in KINDS.values():
        (request,) = list_requests(sandbox, kind)
        assert query_of(request)[kind.status_field] == ["draft"]


def test_drafts_filter_by_kind_and_company(browse, sandbox):
    response = browse.get("/drafts/", {"kind": "credits", "company_id": "2"})
    overview = response.context["overview"]
    expected = [
        r for r in seeded(sandbox, KINDS["credits"], record_status="draft") if r["company_id"] == 2
    ]
    assert [row.key for row in overview.rows] == [
        str(r["number"]) for r in sorted(expected, key=lambda r: r["created_at"], reverse=True)
    ]
    assert [entry["path"] for entry in sandbox.requests_log if "customer-" in entry["path"]] == [
        f"{API}customer-credits/"
    ]


def test_drafts_name_who_saved_them_in_the_portal(browse, sandbox, preparer):
    draft = seeded(sandbox, KINDS["deposits"], record_status="draft")[0]
    audit_record(
        actor=preparer, action=actions.RECORD_UPDATED, kind="deposits", key=str(draft["number"])
    )
    response = browse.get("/drafts/", {"kind": "deposits"})
    row = next(row for row in response.context["overview"].rows if row.key == str(draft["number"]))
    assert row.saved_by == "Priya Preparer"
    assert "Priya Preparer" in response.content.decode()


# --- reference names refresh ---------------------------------------------------------------


def test_refresh_reloads_the_names_and_returns_to_the_page(browse, sandbox):
    browse.get("/refunds/")
    customer = sandbox.store.get("customers", 101)
    customer["name"] = "Renamed Customer Ltd"
    sandbox.store.save("customers", customer)
    assert "Renamed Customer Ltd" not in browse.get("/refunds/").content.decode()  # cached
    response = browse.post("/references/refresh/", {"next": "/refunds/?limit=25"})
    assert response.status_code == 302
    assert response["Location"] == "/refunds/?limit=25"
    assert "Renamed Customer Ltd" in browse.get("/refunds/").content.decode()


def test_refresh_refuses_to_send_people_elsewhere(browse):
    response = browse.post("/references/refresh/", {"next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_refresh_failure_is_a_message_not_an_error(browse, sandbox):
    sandbox.set_faults(status_for_path={f"{API}customers": 500})
    response = browse.post("/references/refresh/", {"next": "/drafts/"}, follow=True)
    assert response.status_code == 200
    assert "The names could not be reloaded" in response.content.decode()


def test_refresh_needs_post(browse):
    assert browse.get("/references/refresh/").status_code == 405


# --- dashboard ------------------------------------------------------------------------------


def test_dashboard_lists_my_portal_drafts_still_draft_in_dualentry(
    sandbox_settings, sandbox, login_as, preparer, approver
):
    sandbox.reset()
    kind = KINDS["refunds"]
    mine, theirs = seeded(sandbox, kind, record_status="draft")[:2]
    posted = seeded(sandbox, kind, record_status="posted")[0]
    for record, person in ((mine, preparer), (theirs, approver), (posted, preparer)):
        audit_record(
            actor=person, action=actions.RECORD_CREATED, kind="refunds", key=str(record["number"])
        )
    response = login_as(preparer).get("/")
    rows = response.context["my_drafts"].rows
    assert [row.key for row in rows] == [str(mine["number"])]
    (request,) = list_requests(sandbox, kind)
    assert sorted(query_of(request)["number"]) == sorted(
        [str(mine["number"]), str(posted["number"])]
    )
    assert f'href="/refunds/{mine["number"]}/"' in response.content.decode()


def test_dashboard_survives_dualentry_being_down(sandbox_settings, sandbox, login_as, preparer):
    audit_record(actor=preparer, action=actions.RECORD_CREATED, kind="refunds", key="1001")
    sandbox.set_faults(status_for_path={API: 500})
    response = login_as(preparer).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "could not check your drafts" in html
    assert "Unavailable" in html
