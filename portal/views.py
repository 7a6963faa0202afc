import logging

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import selectors, sso
from portal.audit.services import audit_login, audit_login_failed, audit_logout
from portal.forms import TimeZoneForm
from portal.middleware import session_remaining
from portal.ops.health import readiness
from portal.readmodel.selectors import sync_health
from portal.services import profile_time_zone_set
from portal.timezones import is_time_zone

logger = logging.getLogger(__name__)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    currency = request.GET.get("currency", "")[:3].upper()
    context = selectors.dashboard_context(user=request.user, chart_currency=currency)
    return render(request, "portal/dashboard.html", context)


@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """The person's own settings: their time zone."""
    if request.method == "POST":
        form = TimeZoneForm(request.POST)
        if form.is_valid():
            zone = form.cleaned_data["time_zone"]
            profile_time_zone_set(user=request.user, time_zone=zone, chosen=True)
            messages.success(request, f"Times are now shown in {zone}.")
            return redirect("profile")
        return render(request, "portal/profile.html", {"form": form}, status=422)
    form = TimeZoneForm(initial={"time_zone": request.time_zone})
    return render(request, "portal/profile.html", {"form": form})


@require_POST
def time_zone_guess(request: HttpRequest) -> HttpResponse:
    """The browser's zone, posted once after the first log-in (static/js/portal.js). It fills
    an empty profile only; a zone the person chose stays."""
    try:
        profile_time_zone_set(
            user=request.user, time_zone=request.POST.get("time_zone", ""), chosen=False
        )
    except ValidationError:
        return HttpResponse(status=400)
    return HttpResponse(status=204)


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: 200 whenever the portal process answers.

    `sync` says how old the read model's copy is per kind ("ok", "stale", "failing" or
    "never synced", with the reason): database reads only, so probes stay cheap.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as err:  # any driver error means "database unavailable"
        logger.warning("health: database check failed: %s", err)
        database = "unavailable"
    sync = sync_health() if database == "ok" else {"status": "unknown", "kinds": {}}
    return JsonResponse(
        {
            "portal": "ok",
            "database": database,
            "dualentry": selectors.dualentry_status(),
            "sync": sync,
        }
    )


@login_not_required
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: 503 unless the database and cache answer and every migration is applied."""
    is_ready, report = readiness()
    return JsonResponse(report, status=200 if is_ready else 503)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **_sign_in_options()}

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED:
            context = {
                **self.get_context_data(),
                "refusal": "Log-in with a portal password is switched off here; "
                "use the single sign-on button.",
            }
            return render(request, self.template_name, context, status=403)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_login(request=self.request, user=form.get_user())
        # The browser's zone (filled in by static/js/portal.js) is the default on first log-in.
        browser_zone = self.request.POST.get("time_zone", "")
        if is_time_zone(browser_zone):
            profile_time_zone_set(user=form.get_user(), time_zone=browser_zone, chosen=False)
        return response

    def form_invalid(self, form):
        audit_login_failed(request=self.request, username=form.data.get("username", ""))
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        user = request.user
        response = super().post(request, *args, **kwargs)
        if user.is_authenticated:
            audit_logout(request=request, user=user)
        return response


def _sign_in_options() -> dict:
    return {
        "local_login_enabled": settings.LOCAL_LOGIN_ENABLED,
        "sso_enabled": sso.sso_enabled(),
        "sso_provider_name": settings.OIDC_PROVIDER_NAME,
    }


def login_locked_out(request: HttpRequest, response=None, credentials=None) -> HttpResponse:
    """django-axes' lock-out response (`AXES_LOCKOUT_CALLABLE`): the log-in page, saying why."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    wait = (
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}"
        if minutes
        else "Try again later"
    )
    context = {
        "form": AuthenticationForm(request),
        "refusal": "Too many failed log-ins for this account or from this address, so log-in "
        f"is locked. {wait}, or ask a portal administrator to unlock it.",
        **_sign_in_options(),
    }
    return render(request, "registration/login.html", context, status=429)


# Both answer signed-out visitors too ({"authenticated": false}) rather than redirecting: the
# log-in page must not be rendered (and its "why you were signed out" message spent) by a fetch.
@login_not_required
@require_GET
def session_status(request: HttpRequest) -> JsonResponse:
    """Seconds left in this session; asking does not count as activity (see the middleware)."""
    return JsonResponse(session_remaining(request))


@login_not_required
@require_POST
def session_extend(request: HttpRequest) -> JsonResponse:
    """ "Stay signed in": any request counts as activity, so this only answers what is left."""
    return JsonResponse(session_remaining(request))
