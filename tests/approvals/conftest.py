"""Fixtures for the approval tests: the sandbox at its seed state, drafts to submit, and a
person who both prepares and approves."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from dualentry_api.client import get_client
from dualentry_api.errors import ConnectionFailed
from portal.roles import APPROVER, PREPARER
from tests.payloads import draft_refund_body

REFUNDS_PATH = "/public/v2/customer-refunds/"


@pytest.fixture
def fresh_sandbox(sandbox_settings):
    """The sandbox at its seed state, faults off, request log empty."""
    sandbox_settings.reset()
    sandbox_settings.clear_log()
    return sandbox_settings


@pytest.fixture
def preparer_approver(db):
    """Alice: preparer and approver (a small team's lead)."""
    user = get_user_model().objects.create_user(
        "alice", email="alice@example.com", password="demo", first_name="Alice", last_name="Lead"
    )
    user.groups.add(Group.objects.get(name=PREPARER), Group.objects.get(name=APPROVER))
    return user


@pytest.fixture
def client_api(fresh_sandbox):
    return get_client()


@pytest.fixture
def make_draft_refund(client_api):
    """Create a draft refund in the sandbox (as a preparer would); returns its number."""

    def _make(*, amount: str = "1875.00", memo: str = "Refund for approval tests") -> str:
        record = client_api.customer_refunds.create(draft_refund_body(memo=memo, amount=amount))
        assert record["record_status"] == "draft"
        return str(record["number"])

    return _make


@pytest.fixture
def puts_to(fresh_sandbox):
    """How many PUTs the sandbox received for a refund."""

    def _count(key: str, path: str = REFUNDS_PATH) -> int:
        return fresh_sandbox.request_count(f"{path}{key}/", method="PUT")

    return _count


@pytest.fixture
def fail_next_put(intercept_upstream, fresh_sandbox):
    """The next PUT meets DualEntry down (503 from the sandbox); later calls go through."""

    def _arm(status: int = 503) -> None:
        state = {"armed": True}

        def intercept(method, template, send):
            if method == "PUT" and state["armed"]:
                state["armed"] = False
                fresh_sandbox.set_faults(status_for_path={"/public/v2/": status})
                try:
                    return send()
                finally:
                    fresh_sandbox.clear_faults()
            return send()

        intercept_upstream(intercept)

    return _arm


@pytest.fixture
def lose_next_put_answer(intercept_upstream):
    """The next PUT reaches DualEntry and is applied, but its answer never arrives."""
    state = {"armed": True}

    def intercept(method, template, send):
        answer = send()
        if method == "PUT" and state["armed"]:
            state["armed"] = False
            raise ConnectionFailed(
                "connection reset after sending",
                method="PUT",
                path=template,
                may_have_reached_server=True,
                user_message="The connection to DualEntry broke; the change may have been saved.",
            )
        return answer

    intercept_upstream(intercept)
