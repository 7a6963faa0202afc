from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from portal.middleware import session_remaining
from portal.permissions import VIEW_AUDIT_LOG, VIEW_RECORDS
from portal.roles import role_names

# (label, url name, url kwargs, permission needed to see the link)
NAVIGATION = [
    ("Dashboard", "dashboard", {}, VIEW_RECORDS),
    ("Refunds", "records:list", {"kind": "refunds"}, VIEW_RECORDS),
    ("Deposits", "records:list", {"kind": "deposits"}, VIEW_RECORDS),
    ("Credits", "records:list", {"kind": "credits"}, VIEW_RECORDS),
    ("Contracts", "records:list", {"kind": "contracts"}, VIEW_RECORDS),
    ("Drafts", "records:drafts", {}, VIEW_RECORDS),
    ("Approvals", "approvals:index", {}, VIEW_RECORDS),
    ("Audit log", "audit:index", {}, VIEW_AUDIT_LOG),
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
