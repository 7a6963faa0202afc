from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from portal.middleware import session_remaining
from portal.roles import role_names

# (label, url name, url kwargs, permission needed to see the link)
NAVIGATION = [
    ("Dashboard", "dashboard", {}, "portal.view_records"),
    ("Refunds", "records:list", {"kind": "refunds"}, "portal.view_records"),
    ("Deposits", "records:list", {"kind": "deposits"}, "portal.view_records"),
    ("Credits", "records:list", {"kind": "credits"}, "portal.view_records"),
    ("Contracts", "records:list", {"kind": "contracts"}, "portal.view_records"),
    ("Drafts", "records:drafts", {}, "portal.view_records"),
    ("Approvals", "approvals:index", {}, "portal.view_records"),
    ("Audit log", "audit:index", {}, "portal.view_audit_log"),
]


def navigation(request: HttpRequest) -> dict:
    """Header data for the base layout. No upstream calls happen here."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    links = []
    for label, url_name, kwargs, permission in NAVIGATION:
        if not user.has_perm(permission):
            continue
        try:
            url = reverse(url_name, kwargs=kwargs)
        except NoReverseMatch:  # a section whose app is not installed in this deployment
            continue
        active = request.path == url if url == "/" else request.path.startswith(url)
        links.append({"label": label, "url": url, "active": active})
    return {
        "user_roles": role_names(user),
        "navigation_links": links,
        # For the "you will be signed out" warning (static/js/session.js).
        "session_idle_seconds": settings.SESSION_IDLE_TIMEOUT,
        "session_seconds_left": session_remaining(request)["remaining"],
        "session_warning_seconds": settings.SESSION_WARNING_BEFORE,
    }
