"""URLs of the records area (namespace "records", mounted at the site root).

Browse owns this file; edit and attachments add their patterns here.
"""

from django.urls import path, register_converter
from django.urls.converters import get_converters

from portal.records import attachment_views, views
from portal.records.kinds import KindConverter

if "kind" not in get_converters():  # approvals' URLs use the same converter
    register_converter(KindConverter, "kind")

app_name = "records"

urlpatterns = [
    path("drafts/", views.drafts, name="drafts"),
    path("references/refresh/", views.refresh_references, name="refresh_references"),
    path("contracts/<int:contract_id>/usage/", views.contract_usage, name="usage"),
    path("<kind:kind>/", views.record_list, name="list"),
    path("<kind:kind>/export.csv", views.record_export, name="export"),
    path("<kind:kind>/<int:key>/", views.record_detail, name="detail"),
    path("<kind:kind>/<int:key>/attachments/", attachment_views.upload, name="upload"),
]
