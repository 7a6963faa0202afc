"""Single sign-on end to end: Chromium, the portal (live server) and a real OpenID Connect
provider (panva's `oidc-provider`, tests/sso/provider/) talking the real protocol."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from playwright.sync_api import expect

from portal.models import UserProfile
from portal.roles import sync_role_groups
from tests.sso.provider_process import CLIENT_ID, CLIENT_SECRET, OIDCProvider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IDP_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def oidc_provider(live_server, tmp_path_factory):
    provider = OIDCProvider(
        accounts_file=tmp_path_factory.mktemp("idp") / "accounts.json",
        redirect_uri=f"{live_server.url}/oidc/callback/",
    )
    yield provider
    provider.stop()


@pytest.fixture
def sso(settings, oidc_provider):
    """The portal pointed at the provider by issuer discovery, as a deployment would be."""
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = oidc_provider.issuer
    settings.OIDC_PROVIDER_NAME = "Example Corp"
    settings.OIDC_ROLE_MAP = {
        "finance-viewers": "Viewer",
        "finance-preparers": "Preparer",
        "finance-approvers": "Approver",
    }
    sync_role_groups()  # transactional tests flush the groups the migration made
    cache.clear()
    yield oidc_provider
    cache.clear()


def _sign_in_with_sso(page, login: str | None) -> None:
    """Click "Sign in with Example Corp"; log in at the IdP when it asks (it does not while its
    own session lasts)."""
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Example Corp").click()
    if login is not None:
        page.get_by_label("IdP username").fill(login)
        page.get_by_label("IdP password").fill(IDP_PASSWORD)
        page.get_by_role("button", name="Sign in at the IdP").click()


def _set_pat_at_the_idp(sso, *, groups: list[str]) -> None:
    """Pat Lee's account at the IdP, a member of `groups` (what the portal maps to roles)."""
    sso.set_account(
        "pat",
        password=IDP_PASSWORD,
        email="Pat.Lee@example.com",
        given_name="Pat",
        family_name="Lee",
        groups=groups,
    )


def test_first_sign_in_creates_the_user_and_an_idp_role_change_applies_at_next_sign_in(
    page, live_server, sso
):
    _set_pat_at_the_idp(sso, groups=["finance-preparers", "all-staff"])

    _sign_in_with_sso(page, "pat")
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".who-name")).to_have_text("Pat Lee")
    expect(page.locator(".who-role")).to_have_text("Preparer")
    user = get_user_model().objects.get(email__iexact="pat.lee@example.com")
    assert user.username == "pat.lee@example.com"
    assert not user.has_usable_password()
    assert [group.name for group in user.groups.all()] == ["Preparer"]

    # IT moves Pat to the approvers' group; the portal follows at Pat's next sign-in.
    _set_pat_at_the_idp(sso, groups=["finance-approvers"])
    expect(page.locator(".who-role")).to_have_text("Preparer")  # not before
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    _sign_in_with_sso(page, None)  # the IdP remembers Pat
    page.wait_for_url(f"{live_server.url}/")
    expect(page.locator(".who-role")).to_have_text("Approver")
    assert get_user_model().objects.filter(email__iexact="pat.lee@example.com").count() == 1


def test_a_deactivated_portal_user_is_refused_with_a_reason(page, live_server, sso):
    get_user_model().objects.create_user(
        "dee@example.com", email="dee@example.com", is_active=False
    )
    sso.set_account(
        "dee", password=IDP_PASSWORD, email="dee@example.com", groups=["finance-approvers"]
    )

    _sign_in_with_sso(page, "dee")
    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("alert")).to_contain_text("Your portal account is deactivated")
    expect(page.locator(".who-name")).to_have_count(0)
    assert not get_user_model().objects.get(username="dee@example.com").groups.exists()


def test_a_person_without_a_portal_role_group_signs_in_with_no_role(page, live_server, sso):
    sso.set_account("sam", password=IDP_PASSWORD, email="sam@example.com", groups=["all-staff"])
    _sign_in_with_sso(page, "sam")
    page.wait_for_url(f"{live_server.url}/")
    expect(page.locator(".who-name")).to_have_text("sam@example.com")
    expect(page.locator(".who-role")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)


def test_first_sign_in_takes_the_browsers_time_zone(browser, live_server, sso):
    """Single sign-on skips the log-in form that carries the zone: the first page posts it."""
    sso.set_account("kim", password=IDP_PASSWORD, email="kim@example.com", groups=["all-staff"])
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        with page.expect_response(
            lambda answer: "/profile/time-zone/guess/" in answer.url
        ) as guess:
            _sign_in_with_sso(page, "kim")
        assert guess.value.status == 204
        user = get_user_model().objects.get(email__iexact="kim@example.com")
        assert UserProfile.objects.get(user=user).time_zone == "Asia/Tokyo"
        page.goto("/profile/")
        expect(page.locator("footer")).to_contain_text("Times in Asia/Tokyo")
    finally:
        context.close()
