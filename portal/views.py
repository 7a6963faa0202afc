import logging

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal import selectors
from portal.audit.services import audit_login, audit_login_failed, audit_logout
from portal.ops.health import readiness

logger = logging.getLogger(__name__)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    context = selectors.dashboard_context(user=request.user)
    return render(request, "portal/dashboard.html", context)


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: 200 whenever the portal process answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as err:  # any driver error means "database unavailable"
        logger.warning("health: database check failed: %s", err)
        database = "unavailable"
    return JsonResponse(
        {"portal": "ok", "database": database, "dualentry": selectors.dualentry_status()}
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

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_login(request=self.request, user=form.get_user())
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
