"""URLs of the records area (namespace "records", mounted at the site root).

Browse owns this file; edit and attachments add their patterns here.
"""

from django.urls import path, register_converter
from django.urls.converters import get_converters

from portal.records import attachment_views, edit_views, views
from portal.records.kinds import KindConverter

if "kind" not in get_converters():  # approvals' URLs use the same converter
    register_converter(KindConverter, "kind")

app_name = "records"

urlpatterns = [
    path("drafts/", views.drafts, name="drafts"),
    path("references/refresh/", views.refresh_references, name="refresh_references"),
    # Edit: contract proposals and usage batches (kept in the portal until approved).
    path("contracts/proposals/<int:pk>/", edit_views.proposal_detail, name="proposal_detail"),
    path("contracts/proposals/<int:pk>/edit/", edit_views.proposal_edit, name="proposal_edit"),
    path(
        "contracts/<int:contract_id>/usage/new/",
        edit_views.usage_batch_new,
        name="usage_batch_new",
    ),
    # GET shows browse's usage page (views.contract_usage); POST saves a usage batch proposal.
    path("contracts/<int:contract_id>/usage/", edit_views.usage, name="usage_batch"),
    path("contracts/<int:contract_id>/usage/", views.contract_usage, name="usage"),
    path("<kind:kind>/", views.record_list, name="list"),
    path("<kind:kind>/export.csv", views.record_export, name="export"),
    path("<kind:kind>/<int:key>/", views.record_detail, name="detail"),
    # Edit: create and edit drafts (contracts: proposals), htmx blank line.
    path("<kind:kind>/new/", edit_views.record_create, name="create"),
    path("<kind:kind>/new/line/", edit_views.item_row, name="item_row"),
    path("<kind:kind>/<int:key>/edit/", edit_views.record_edit, name="edit"),
    path("<kind:kind>/<int:key>/attachments/", attachment_views.upload, name="upload"),
]
