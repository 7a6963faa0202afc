from django.contrib import admin
from django.urls import include, path

from portal import views
from portal.ops.metrics import metrics

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("health/", views.health, name="health"),
    path("health/ready/", views.ready, name="ready"),
    path("metrics", metrics, name="metrics"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("portal.audit.urls")),
    path("", include("portal.records.urls")),
    path("", include("portal.approvals.urls")),
]

handler404 = "portal.errors.page_not_found"
handler403 = "portal.errors.permission_denied"
handler500 = "portal.errors.server_error"
