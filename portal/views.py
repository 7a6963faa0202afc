import logging

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal import selectors

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


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass
