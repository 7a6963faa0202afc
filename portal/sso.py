"""Single sign-on with OpenID Connect, on top of mozilla-django-oidc.

- The provider's endpoints come from settings, or from the discovery document of
  `OIDC_OP_ISSUER` (fetched when a sign-in first needs it, then cached).
- People are matched by e-mail; someone signing in for the first time gets an account.
- Roles are re-mapped from the groups claim (`OIDC_GROUPS_CLAIM`, `OIDC_ROLE_MAP`) at every
  sign-in, so a change at the identity provider takes effect at the next sign-in. SSO never
  grants administrator rights.
- A deactivated portal account is refused, with a sentence saying so, and loses its current
  sessions at their next request.
"""

import logging

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core import checks
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.decorators import method_decorator
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from portal.audit.services import audit_login
from portal.roles import ROLE_PERMISSIONS, user_set_roles

logger = logging.getLogger(__name__)

# Settings that the discovery document can supply, and its field for each.
_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
DISCOVERY_CACHE_SECONDS = 3600


def sso_enabled() -> bool:
    return bool(
        settings.OIDC_RP_CLIENT_ID
        and (settings.OIDC_OP_ISSUER or settings.OIDC_OP_AUTHORIZATION_ENDPOINT)
    )


def provider_metadata() -> dict:
    """The issuer's discovery document (`/.well-known/openid-configuration`), cached."""
    issuer = settings.OIDC_OP_ISSUER.rstrip("/")
    cache_key = f"oidc-discovery:{issuer}"
    metadata = cache.get(cache_key)
    if metadata is None:
        response = requests.get(
            f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT
        )
        response.raise_for_status()
        metadata = response.json()
        if metadata.get("issuer", "").rstrip("/") != issuer:
            raise ImproperlyConfigured(
                f"The discovery document of {issuer} names another issuer: {metadata.get('issuer')}"
            )
        cache.set(cache_key, metadata, DISCOVERY_CACHE_SECONDS)
    return metadata


def sso_setting(name: str, *default):
    """A mozilla-django-oidc setting; endpoints left empty come from the issuer's discovery."""
    if name in _DISCOVERED and not getattr(settings, name, "") and settings.OIDC_OP_ISSUER:
        return provider_metadata()[_DISCOVERED[name]]
    return import_from_settings(name, *default)


def roles_from_claims(claims: dict) -> set[str]:
    """The portal roles that the person's groups at the identity provider map to."""
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    return {settings.OIDC_ROLE_MAP[group] for group in groups if group in settings.OIDC_ROLE_MAP}


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the portal's users and roles."""

    def __init__(self, *args, **kwargs):
        # Django loads every backend for each log-in and each request of an SSO session; the
        # endpoints are only looked up (properties below) when a sign-in needs them.
        self.UserModel = get_user_model()

    get_settings = staticmethod(sso_setting)

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return sso_setting("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return sso_setting("OIDC_OP_USER_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str | None:
        return sso_setting("OIDC_OP_JWKS_ENDPOINT", None) or None

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return settings.OIDC_RP_CLIENT_SECRET

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        return settings.OIDC_RP_SIGN_ALGO

    @property
    def OIDC_RP_IDP_SIGN_KEY(self) -> None:
        return None

    def authenticate(self, request, **kwargs):
        if not sso_enabled():
            return None
        return super().authenticate(request, **kwargs)

    def verify_claims(self, claims: dict) -> bool:
        # People are matched by e-mail: an address the provider says is unverified is refused.
        return bool(claims.get("email")) and claims.get("email_verified") is not False

    def get_username(self, claims: dict) -> str:
        return claims["email"].strip().lower()[:150]

    def create_user(self, claims: dict):
        user = self.UserModel.objects.create_user(
            self.get_username(claims), email=claims["email"].strip()
        )
        return self.update_user(user, claims)

    def update_user(self, user, claims: dict):
        """Names and roles follow the identity provider at every sign-in. An account that is
        deactivated in the portal stays as it is (the callback refuses it)."""
        if not user.is_active:
            return user
        user.first_name = (claims.get("given_name") or user.first_name)[:150]
        user.last_name = (claims.get("family_name") or user.last_name)[:150]
        user.save(update_fields=["first_name", "last_name"])
        user_set_roles(user=user, roles=roles_from_claims(claims))
        return user

    def get_user(self, user_id):
        user = super().get_user(user_id)
        # Unlike ModelBackend, the library keeps deactivated users signed in.
        return user if user is not None and self.user_can_authenticate(user) else None


@method_decorator(login_not_required, name="dispatch")
class SignInView(OIDCAuthenticationRequestView):
    """ "Sign in with ...": sends the browser to the identity provider."""

    def __init__(self, *args, **kwargs):
        # Skips the library's __init__, which reads the endpoint settings eagerly: here they
        # may need discovery, which `get` does with a sentence for people if it fails.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    get_settings = staticmethod(sso_setting)

    def get(self, request):
        if not sso_enabled():
            messages.error(request, "Single sign-on is not set up for this portal.")
            return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
        try:
            self.OIDC_OP_AUTH_ENDPOINT = sso_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except (requests.RequestException, ValueError, KeyError, ImproperlyConfigured) as err:
            logger.warning("sso: the identity provider's discovery failed: %s", err)
            messages.error(
                request,
                f"{settings.OIDC_PROVIDER_NAME} cannot be reached right now. "
                "Try again in a minute; if it keeps failing, tell your administrator.",
            )
            return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


@method_decorator(login_not_required, name="dispatch")
class CallbackView(OIDCAuthenticationCallbackView):
    """The identity provider sends the browser back here with a code."""

    get_settings = staticmethod(sso_setting)

    def get(self, request):
        try:
            return super().get(request)
        except (requests.RequestException, ValueError, ImproperlyConfigured) as err:
            # ValueError: a token or userinfo answer that is not JSON.
            logger.warning("sso: exchanging the code with the identity provider failed: %s", err)
            self.user = None
            return self.login_failure()

    def login_success(self):
        response = super().login_success()
        audit_login(request=self.request, user=self.user)
        return response

    def login_failure(self):
        user = getattr(self, "user", None)
        if user is not None and not user.is_active:
            message = (
                "Your portal account is deactivated, so you cannot sign in. "
                "Ask a portal administrator if you need access again."
            )
        else:
            message = (
                f"Signing in with {settings.OIDC_PROVIDER_NAME} did not complete. Try again; "
                "if it keeps failing, tell your administrator the time it happened."
            )
        messages.error(self.request, message)
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))


@checks.register()
def check_role_map(app_configs, **kwargs) -> list[checks.Error]:
    """`OIDC_ROLE_MAP` may only name the portal's roles."""
    return [
        checks.Error(
            f"OIDC_ROLE_MAP maps the group {group!r} to {role!r}, which is not a portal role.",
            hint=f"Use one of: {', '.join(ROLE_PERMISSIONS)}.",
            id="portal.E001",
        )
        for group, role in settings.OIDC_ROLE_MAP.items()
        if role not in ROLE_PERMISSIONS
    ]


@checks.register()
def check_some_log_in(app_configs, **kwargs) -> list[checks.Warning]:
    if settings.LOCAL_LOGIN_ENABLED or sso_enabled():
        return []
    return [
        checks.Warning(
            "LOCAL_LOGIN_ENABLED is off and single sign-on is not set up: nobody can log in.",
            hint="Set OIDC_RP_CLIENT_ID and OIDC_OP_ISSUER, or turn LOCAL_LOGIN_ENABLED on.",
            id="portal.W001",
        )
    ]
