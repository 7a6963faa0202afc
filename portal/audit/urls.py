from django.urls import path

from portal.audit import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.index, name="index"),
    path("audit/export.csv", views.export, name="export"),
    path("audit/verify/", views.verify, name="verify"),
]
