"""Records changed "from outside" the portal, as DualEntry's own app would, and bigger seeds."""

import pytest
import requests

from dualentry_api.sandbox.seed import DEFAULT_COUNTS, Seed, populate
from dualentry_api.sandbox.store import Store

from .conftest import contract_body, deposit_body, refund_body

pytestmark = pytest.mark.usefixtures("fresh_sandbox")

KINDS = ("customer-refunds", "customer-deposits", "customer-credits")


def _first(sandbox, collection: str, status: str) -> dict:
    return next(
        record
        for record in sandbox.store.collection(collection).values()
        if record["record_status"] == status
    )


def test_a_record_created_outside_is_listed_to_the_portal(sandbox, api):
    before = api.get("customer-refunds/", params={"limit": 1}).json()["count"]
    created = sandbox.outside.create(
        "customer-refunds", refund_body(memo="Keyed in DualEntry", record_status="draft")
    )
    listed = api.get("customer-refunds/", params={"limit": 1, "ordering": "-number"}).json()
    assert listed["count"] == before + 1
    assert listed["items"][0]["number"] == created["number"]
    assert created["memo"] == "Keyed in DualEntry"


@pytest.mark.parametrize("collection", KINDS)
def test_a_draft_edited_outside_changes_through_the_api(sandbox, api, collection):
    draft = _first(sandbox, collection, "draft")
    key = draft["number"]
    edited = sandbox.outside.edit(collection, key, memo="Changed in DualEntry")
    seen = api.get(f"{collection}/{key}/").json()
    assert seen["memo"] == edited["memo"] == "Changed in DualEntry"
    assert seen["record_status"] == "draft"
    assert sandbox.store.get(collection, key)["updated_at"] > draft["updated_at"]
    assert sandbox.request_count(f"/public/v2/{collection}/{key}/", method="PUT") == 1


def test_a_draft_posted_then_archived_outside(sandbox, api):
    key = _first(sandbox, "customer-deposits", "draft")["number"]
    assert sandbox.outside.post("customer-deposits", key)["record_status"] == "posted"
    assert sandbox.outside.archive("customer-deposits", key)["record_status"] == "archived"
    assert api.get(f"customer-deposits/{key}/").json()["record_status"] == "archived"


def test_a_record_deleted_upstream_is_gone(sandbox, api):
    key = _first(sandbox, "customer-credits", "posted")["number"]
    count = api.get("customer-credits/", params={"limit": 1}).json()["count"]
    sandbox.outside.delete("customer-credits", key)
    assert api.get(f"customer-credits/{key}/").status_code == 404
    assert api.get("customer-credits/", params={"limit": 1}).json()["count"] == count - 1
    with pytest.raises(AssertionError, match="404"):
        sandbox.outside.delete("customer-credits", key)


def test_a_contract_changes_outside_through_the_sandbox_controls(sandbox, api):
    contract = sandbox.outside.create("contracts", contract_body(status="active"))
    key = contract["id"]
    assert sandbox.outside.archive("contracts", key)["status"] == "archived"
    assert api.get(f"contracts/{key}/").json()["status"] == "archived"
    sandbox.outside.delete("contracts", key)
    assert api.get(f"contracts/{key}/").status_code == 404
    assert api.get(f"contracts/{key}/usage/").status_code == 404


def test_outside_changes_keep_to_the_spec(sandbox):
    with pytest.raises(AssertionError, match="422"):
        sandbox.outside.create("customer-deposits", deposit_body(date="yesterday"))


def test_outside_changes_do_not_spend_the_portals_rate_limits(sandbox, api):
    sandbox.set_faults(rate_limits=True, route_rate=0.1, route_burst=1)
    key = _first(sandbox, "customer-refunds", "draft")["number"]
    assert api.get(f"customer-refunds/{key}/").status_code == 200
    sandbox.outside.get("customer-refunds", key)  # its own bucket: not refused
    assert api.get(f"customer-refunds/{key}/").status_code == 429  # the portal's is empty
    with pytest.raises(AssertionError, match="429"):
        sandbox.outside.get("customer-refunds", key)  # and the outside one is limited too


def test_the_record_controls_refuse_what_they_cannot_do(sandbox):
    control = f"{sandbox.url}/__sandbox__/records/"
    assert requests.delete(control + "customer-refunds/999999/", timeout=5).status_code == 404
    assert requests.delete(control + "no-such-things/1/", timeout=5).status_code == 404
    patch = requests.patch(control + "contracts/1/", json={"id": 5}, timeout=5)
    assert patch.status_code == 422
    assert requests.patch(control + "contracts/1/", data=b"{", timeout=5).status_code == 422


def test_a_bigger_seed_has_that_many_of_each_kind_and_is_deterministic():
    first, second = Store(), Store()
    populate(first, Seed(records_per_kind=120))
    populate(second, Seed(records_per_kind=120))
    first.close()
    second.close()
    for name in DEFAULT_COUNTS:
        assert len(first.collection(name)) == 120
    assert first.state == second.state


def test_the_default_seed_keeps_todays_mix():
    assert {name: Seed().count(name) for name in DEFAULT_COUNTS} == DEFAULT_COUNTS
    with pytest.raises(ValueError):
        Seed(records_per_kind=0)
