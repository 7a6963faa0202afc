"""URLs of the records area (namespace "records", mounted at the site root)."""

from django.urls import path, register_converter
from django.urls.converters import get_converters

from portal.records.kinds import KindConverter
from portal.records.views import attachments, browse, drafts, edit, proposals

if "kind" not in get_converters():  # approvals' URLs use the same converter
    register_converter(KindConverter, "kind")

app_name = "records"

urlpatterns = [
    path("drafts/", drafts.drafts, name="drafts"),
    path("references/refresh/", browse.refresh_references, name="refresh_references"),
    # Edit: contract proposals and usage batches (kept in the portal until approved).
    path("contracts/proposals/<int:pk>/", proposals.proposal_detail, name="proposal_detail"),
    path("contracts/proposals/<int:pk>/edit/", proposals.proposal_edit, name="proposal_edit"),
    path(
        "contracts/<int:contract_id>/usage/new/",
        proposals.usage_batch_new,
        name="usage_batch_new",
    ),
    # GET shows browse's usage page (browse.contract_usage); POST saves a usage batch proposal.
    path("contracts/<int:contract_id>/usage/", proposals.usage, name="usage_batch"),
    path("contracts/<int:contract_id>/usage/", browse.contract_usage, name="usage"),
    path("<kind:kind>/", browse.record_list, name="list"),
    path("<kind:kind>/export.csv", browse.record_export, name="export"),
    path("<kind:kind>/<int:key>/", browse.record_detail, name="detail"),
    path("<kind:kind>/<int:key>/refresh/", browse.record_detail_refresh, name="detail_refresh"),
    # Edit: create and edit drafts (contracts: proposals), htmx blank line.
    path("<kind:kind>/new/", edit.record_create, name="create"),
    path("<kind:kind>/new/line/", edit.item_row, name="item_row"),
    path("<kind:kind>/<int:key>/edit/", edit.record_edit, name="edit"),
    path("<kind:kind>/<int:key>/attachments/", attachments.upload, name="upload"),
]
