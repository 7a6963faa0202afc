"""Single sign-on without a provider: the log-in page, the switches and the refusals. The
protocol itself is tested end to end in tests/browser/test_sso.py."""

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from portal.roles import user_set_roles
from portal.sso import PortalOIDCBackend, roles_from_claims

pytestmark = pytest.mark.django_db


@pytest.fixture
def sso_configured(settings):
    settings.OIDC_RP_CLIENT_ID = "finance-portal"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_PROVIDER_NAME = "Example Corp"
    settings.OIDC_OP_ISSUER = "https://idp.example.com"
    settings.OIDC_ROLE_MAP = {"fin-view": "Viewer", "fin-approve": "Approver"}
    cache.clear()


def test_the_log_in_page_offers_single_sign_on_when_it_is_set_up(sso_configured):
    page = Client().get("/accounts/login/?next=/approvals/").content.decode()
    assert 'href="/oidc/authenticate/?next=/approvals/"' in page
    assert "Sign in with Example Corp" in page
    assert 'name="password"' in page


def test_without_single_sign_on_the_page_has_only_the_password_form():
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with" not in page
    assert 'name="password"' in page


def test_password_log_in_can_be_switched_off(settings, sso_configured, preparer):
    settings.LOCAL_LOGIN_ENABLED = False
    client = Client()
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Example Corp" in page
    assert 'name="password"' not in page

    response = client.post("/accounts/login/", {"username": "preparer", "password": "demo"})
    assert response.status_code == 403
    assert "switched off" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_without_single_sign_on_set_up_says_so():
    response = Client().get("/oidc/authenticate/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Single sign-on is not set up for this portal."
    ]


def test_an_unreachable_identity_provider_is_a_sentence_not_a_500(settings, sso_configured):
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_TIMEOUT = 2
    response = Client().get("/oidc/authenticate/")
    assert response.status_code == 302
    (message,) = get_messages(response.wsgi_request)
    assert "Example Corp cannot be reached" in str(message)


def test_explicit_endpoints_need_no_discovery(settings, sso_configured):
    settings.OIDC_OP_ISSUER = ""
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://idp.example.com/authorize"
    response = Client().get("/oidc/authenticate/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("https://idp.example.com/authorize?")
    for part in ("client_id=finance-portal", "code_challenge_method=S256", "nonce=", "state="):
        assert part in location
    assert "scope=openid+email+profile+groups" in location


def test_groups_map_to_portal_roles(sso_configured):
    claims = {"groups": ["fin-view", "fin-approve", "everyone"]}
    assert roles_from_claims(claims) == {"Viewer", "Approver"}
    assert roles_from_claims({"groups": "fin-view"}) == {"Viewer"}
    assert roles_from_claims({}) == set()


def test_an_unverified_email_is_refused():
    backend = PortalOIDCBackend()
    assert backend.verify_claims({"email": "pat@example.com", "email_verified": True})
    assert backend.verify_claims({"email": "pat@example.com"})
    assert not backend.verify_claims({"email": "pat@example.com", "email_verified": False})
    assert not backend.verify_claims({"sub": "pat"})


def test_a_role_map_naming_an_unknown_role_fails_the_system_check(settings):
    settings.OIDC_ROLE_MAP = {"fin-admins": "Administrator"}
    with pytest.raises(SystemCheckError, match=r"portal\.E001"):
        call_command("check")


def test_deactivating_an_sso_user_ends_their_current_session(preparer):
    client = Client()
    client.force_login(preparer, backend="portal.sso.PortalOIDCBackend")
    assert client.get("/").status_code == 200
    preparer.is_active = False
    preparer.save()
    assert client.get("/").status_code == 302


def test_the_session_status_answers_a_signed_out_visitor_without_a_redirect():
    response = Client().get("/session/")
    assert response.status_code == 200
    assert response.json() == {"authenticated": False, "remaining": 0, "extendable": False}


def test_setting_roles_replaces_portal_roles_and_keeps_other_groups(preparer):
    preparer.groups.add(Group.objects.create(name="Finance team"))
    user_set_roles(user=preparer, roles={"Approver", "Viewer"})
    assert sorted(group.name for group in preparer.groups.all()) == [
        "Approver",
        "Finance team",
        "Viewer",
    ]
    Group.objects.filter(name="Approver").delete()
    user_set_roles(user=preparer, roles={"Approver"})
    assert sorted(group.name for group in preparer.groups.all()) == ["Approver", "Finance team"]
    assert preparer.has_perm("portal.approve_records")


def test_switching_off_passwords_without_single_sign_on_is_flagged(settings):
    settings.LOCAL_LOGIN_ENABLED = False
    with pytest.raises(SystemCheckError, match=r"portal\.W001"):
        call_command("check", fail_level="WARNING")


def test_the_admin_logs_in_through_the_portals_log_in_page(sso_configured):
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/"
