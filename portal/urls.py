from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from portal import sso, views
from portal.ops.metrics import metrics

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("health/", views.health, name="health"),
    path("health/ready/", views.ready, name="ready"),
    path("metrics", metrics, name="metrics"),
    path("profile/", views.profile, name="profile"),
    path("profile/time-zone/guess/", views.time_zone_guess, name="time_zone_guess"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("oidc/authenticate/", sso.SignInView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("session/", views.session_status, name="session_status"),
    path("session/extend/", views.session_extend, name="session_extend"),
    # One log-in page for everything, with single sign-on, lock-out and LOCAL_LOGIN_ENABLED.
    path(
        "admin/login/",
        login_not_required(RedirectView.as_view(pattern_name="login", query_string=True)),
    ),
    path("admin/", admin.site.urls),
    path("", include("portal.audit.urls")),
    path("", include("portal.records.urls")),
    path("", include("portal.approvals.urls")),
]

handler404 = "portal.errors.page_not_found"
handler403 = "portal.errors.permission_denied"
handler500 = "portal.errors.server_error"
