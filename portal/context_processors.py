from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from portal.middleware import session_remaining
from portal.permissions import VIEW_AUDIT_LOG, VIEW_RECORDS
from portal.readmodel.selectors import FAILING, NEVER, REFERENCES, Freshness, oldest_freshness
from portal.readmodel.templatetags.freshness import age_text
from portal.records.kinds import KINDS
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


@dataclass(frozen=True)
class DataFreshness:
    """The footer's "DualEntry data as of ..." and, when the sync is behind, the banner."""

    freshness: Freshness

    @property
    def as_of(self):
        return self.freshness.as_of

    @property
    def behind(self) -> bool:
        return self.freshness.behind

    @property
    def failing(self) -> bool:
        return self.freshness.status == FAILING

    @property
    def warning(self) -> str:
        """A sentence for the banner ("" when the copy is fresh)."""
        freshness = self.freshness
        if not freshness.behind:
            return ""
        what = _kind_label(freshness.kind)
        if freshness.status == NEVER:
            return (
                f"{what} have not been copied from DualEntry yet; the sync worker fills the "
                "copy shortly after it starts."
            )
        if freshness.lag_seconds is None:
            return f"{what} are behind: {freshness.reason}"
        lag = age_text(freshness.lag_seconds)
        if freshness.status == FAILING:
            return f"{what} have not synced for {lag}: {_lower_first(freshness.reason)}"
        if freshness.lag_seconds > float(settings.READMODEL_STALE_AFTER):
            return f"{what} have not synced for {lag}."
        return f"{what} are behind: {_lower_first(freshness.reason)}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _kind_label(slug: str) -> str:
    if slug == REFERENCES:
        return "Names of companies, customers and accounts"
    kind = KINDS.get(slug)
    return kind.label_plural.capitalize() if kind is not None else slug.capitalize()


def _relevant_kinds(request: HttpRequest) -> list[str] | None:
    """A record kind's pages show its own sync (and the names'); other pages all of them."""
    match = getattr(request, "resolver_match", None)
    kind = match.kwargs.get("kind") if match is not None else None
    slug = getattr(kind, "slug", None)
    return [slug, REFERENCES] if slug else None


def data_freshness(request: HttpRequest) -> dict:
    """How old the read model's copy is, for the base layout (database reads only, once per
    request and only if the page shows it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm(VIEW_RECORDS):
        return {}

    def load() -> DataFreshness | None:
        cached = getattr(request, "_data_freshness", None)
        if cached is None:
            oldest = oldest_freshness(kinds=_relevant_kinds(request))
            cached = DataFreshness(oldest) if oldest is not None else False
            request._data_freshness = cached
        return cached or None

    return {"data_freshness": SimpleLazyObject(load)}
