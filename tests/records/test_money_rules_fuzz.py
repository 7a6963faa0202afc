"""Hypothesis: random refund line combinations (other customers' credits, draft and foreign-
currency credits, prepayments, unknown numbers, amounts typed every which way) through the
real form, then submit and approve. Never a 500; a refund that is saved keeps the money rules
when it is saved, and one that is posted kept them when it was approved."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.approvals import services as approvals
from portal.approvals.models import ApprovalRequest
from portal.records import money_rules
from tests.records.money_support import customer_id, make_credit, refund_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]

FUZZ = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SOURCES = ("own", "own_small", "other_customer", "draft", "euro", "prepayment", "unknown")
AMOUNTS = ("0.01", "40", "60", "100", "100.01", "1,000.00", "$5", "€5", "-1", "abc", "", " 7,5 ")
lines_strategy = st.lists(
    st.tuples(st.sampled_from(SOURCES), st.sampled_from(AMOUNTS)), min_size=1, max_size=4
)


@pytest.fixture
def credits(sandbox):
    sandbox.reset()
    acme = customer_id(sandbox, "Acme Logistics")
    delta = customer_id(sandbox, "Delta Marine Services")
    prepayment = next(
        record["number"]
        for record in sandbox.store.collection("customer-prepayments").values()
        if record["company_id"] == 1
    )
    return acme, {
        "own": ("customer_credit_number", make_credit(sandbox, customer=acme, amount="100.00")),
        "own_small": ("customer_credit_number", make_credit(sandbox, customer=acme, amount="50")),
        "other_customer": (
            "customer_credit_number",
            make_credit(sandbox, customer=delta, amount="100.00"),
        ),
        "draft": (
            "customer_credit_number",
            make_credit(sandbox, customer=acme, amount="100.00", status="draft"),
        ),
        "euro": (
            "customer_credit_number",
            make_credit(sandbox, customer=acme, amount="100.00", currency="EUR", rate="1.1"),
        ),
        "prepayment": ("customer_prepayment_number", prepayment),
        "unknown": ("customer_credit_number", 999999),
    }


@FUZZ
@given(lines=lines_strategy, bank=st.sampled_from(["", "0", "5", "10,000"]))
def test_fuzzed_refund_lines_never_500_and_never_post_a_broken_refund(
    lines, bank, credits, sandbox, login_as, preparer, approver
):
    acme, sources = credits
    client = login_as(preparer)
    rows = [{sources[name][0]: sources[name][1], "amount": amount} for name, amount in lines]
    data = refund_form(
        client, customer=acme, lines=rows, memo="Fuzzed refund", bank_or_credit_card_amount=bank
    )
    before = set(sandbox.store.collection("customer-refunds"))
    response = client.post("/refunds/new/", data)
    assert response.status_code in (302, 422), response.status_code
    created = set(sandbox.store.collection("customer-refunds")) - before
    if response.status_code == 422:
        assert not created  # nothing sent
        return
    (key,) = created
    saved = sandbox.store.get("customer-refunds", key)
    check = money_rules.check_payload_live(kind_slug="refunds", payload=saved, exclude_key=str(key))
    assert check.ok, check.sentences()
    try:
        approval_request = approvals.approval_submit(kind="refunds", key=key, user=preparer)
        approvals.approval_approve(approval_request=approval_request, user=approver)
    except approvals.MoneyRulesBroken:
        assert sandbox.store.get("customer-refunds", key)["record_status"] == "draft"
        return
    posted = sandbox.store.get("customer-refunds", key)
    assert posted["record_status"] == "posted"
    state = ApprovalRequest.objects.get(pk=approval_request.pk).state
    assert state == ApprovalRequest.State.POSTED
    applied: dict = {}
    for line in posted["items"]:
        for field in money_rules.KIND_SOURCE_FIELDS["refunds"]:
            if line.get(field) is not None:
                applied.setdefault((field, line[field]), []).append(line["amount"])
    names = {number: name for name, (_field, number) in sources.items()}
    for _field, number in applied:
        assert names[number] in ("own", "own_small", "prepayment"), (names[number], posted)
    assert list(itertools.chain.from_iterable(applied.values()))
