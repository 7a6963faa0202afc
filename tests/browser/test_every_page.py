"""Every page a preparer and an approver reach, and the log-in page, on a 390px phone: no
sideways scrolling, axe-core finds no accessibility violations (WCAG 2 A/AA and best practices),
and nothing breaks the Content-Security-Policy (tests run with DEBUG off, so it is enforced)."""

import pytest

from dualentry_api.client import get_client
from portal.approvals import services as approval_services
from portal.records.kinds import KINDS, REFUNDS
from tests.browser.a11y import PHONE, page_problems
from tests.payloads import draft_refund_body
from tests.records.browse_support import one_with_lines

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("sandbox_settings")]


def _draft_refund() -> str:
    body = draft_refund_body(memo="Refund checked on every screen size")
    record = get_client().customer_refunds.create(body)
    return str(record["number"])


@pytest.fixture
def records(sandbox, fill_copy):
    """A draft refund to edit, one waiting for approval, and a seeded record of each kind, all
    in the read model (lists, drafts, the dashboard and the search read it)."""
    sandbox.reset()
    details = {
        kind.slug: f"/{kind.slug}/{one_with_lines(sandbox, kind)[kind.key_field]}/"
        for kind in KINDS.values()
    }
    made = {"draft": _draft_refund(), "submitted": _draft_refund(), "details": details}
    fill_copy()  # the read model filled: lists answer, forms offer their pickers of credits
    yield made
    sandbox.reset()


# The read-model pages with their filters in use: a list filtered, searched and sorted, the
# drafts of one kind, the global search's results page.
FILTERED = [
    "/refunds/?status=draft&status=posted&customer=110&q=refund&sort=-amount",
    "/contracts/?status=active&sort=number",
    "/drafts/?kind=refunds&q=refund&sort=-date",
    "/search/?q=refund",
    "/approvals/?sort=-amount",
]


def _visit_all(page, csp_violations, paths: list[str]) -> list[str]:
    page.set_viewport_size(PHONE)
    problems = []
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
        assert "content-security-policy" in response.headers, path
        page.wait_for_load_state("networkidle")
        problems.extend(f"{path}: {violation}" for violation in csp_violations())
        problems.extend(page_problems(page, path))
    return problems


def test_every_preparer_page_fits_a_phone_and_passes_axe(
    page, log_in, csp_violations, preparer, records
):
    log_in("preparer")
    paths = [
        "/",
        *(f"/{slug}/" for slug in KINDS),
        *records["details"].values(),
        *(f"/{slug}/new/" for slug in KINDS),
        f"/refunds/{records['draft']}/",
        f"/refunds/{records['draft']}/edit/",
        "/drafts/",
        "/approvals/",
        *FILTERED,
        "/audit/",
        "/audit/verify/",
        "/profile/",
    ]
    problems = _visit_all(page, csp_violations, paths)
    assert not problems, "\n".join(problems)


def test_every_approver_page_fits_a_phone_and_passes_axe(
    page, log_in, csp_violations, preparer, approver, records
):
    request = approval_services.approval_submit(
        kind=REFUNDS, key=records["submitted"], user=preparer
    )
    log_in("approver")
    paths = [
        "/",
        *(f"/{slug}/" for slug in KINDS),
        *records["details"].values(),
        "/drafts/",
        "/approvals/",
        f"/approvals/{request.pk}/",
        *FILTERED,
        "/audit/",
        "/audit/verify/",
        "/profile/",
    ]
    problems = _visit_all(page, csp_violations, paths)
    # The approve confirmation step (a POST's answer): reached from the review page's button.
    page.goto(f"/approvals/{request.pk}/")
    page.get_by_role("button", name="Approve and post…").click()
    page.wait_for_load_state("networkidle")
    assert "Confirm approval" in page.title()
    problems.extend(f"approve confirmation: {violation}" for violation in csp_violations())
    problems.extend(page_problems(page, "approve confirmation"))
    assert not problems, "\n".join(problems)


def test_log_in_page_with_single_sign_on_fits_a_phone_and_passes_axe(
    page, db, settings, csp_violations
):
    """The SSO button, the password form beside it and a refusal, as a phone shows them."""
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://idp.example.com/authorize"
    settings.OIDC_PROVIDER_NAME = "Example Corp"
    problems = _visit_all(page, csp_violations, ["/accounts/login/"])
    assert page.get_by_role("link", name="Sign in with Example Corp").is_visible()
    assert page.locator("input[name=time_zone]").input_value()  # filled by static/js/portal.js
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    problems.extend(f"refused log-in: {violation}" for violation in csp_violations())
    problems.extend(page_problems(page, "refused log-in"))
    assert not problems, "\n".join(problems)
