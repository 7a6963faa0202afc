"""Two preparers apply the last 100.00 of one credit at the same moment: only one gets through.

`money_rules.lock_sources` holds `SELECT ... FOR UPDATE` on the credit's read-model row from
validation to the end of the save (whose write-through puts the new draft in the read model),
so the second preparer validates after the first one's draft reserves the credit. PostgreSQL
only: SQLite has no row locks, and there the live check at submit and approval is what stops
the second refund (see the module docstring of portal.records.money_rules)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from dualentry_api.client import get_client
from portal.readmodel.services import mirror_record
from tests.records.money_support import customer_id, make_credit, refund_form

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_settings"),
]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL (DATABASE_URL)"
)
def test_two_preparers_applying_the_last_100_of_a_credit_only_one_gets_through(sandbox, preparer):
    sandbox.reset()
    acme = customer_id(sandbox, "Acme Logistics")
    credit = make_credit(sandbox, customer=acme, amount="100.00")
    mirror_record(kind="credits", record=get_client().customer_credits.get(credit))
    clients, forms = [], []
    for _ in range(2):
        client = Client()
        client.force_login(preparer)
        rows = [{"customer_credit_number": credit, "amount": "100.00"}]
        forms.append(refund_form(client, customer=acme, lines=rows, blank=0, memo="Race"))
        clients.append(client)
    before = set(sandbox.store.collection("customer-refunds"))
    sandbox.set_faults(latency_ms=300)  # the first save is still under way when the second comes
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def preparer_saves(index: int) -> None:
        try:
            barrier.wait()
            statuses.append(clients[index].post("/refunds/new/", forms[index]).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=preparer_saves, args=(index,)) for index in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sandbox.clear_faults()
    assert sorted(statuses) == [302, 422]
    created = set(sandbox.store.collection("customer-refunds")) - before
    assert len(created) == 1
