"""URLs of the records area (namespace "records", mounted at the site root; `<kind:...>` is
registered by the records app)."""

from django.urls import path

from portal.records import pickers
from portal.records.views import attachments, browse, edit, lists, proposals, sources

app_name = "records"

urlpatterns = [
    path("drafts/", lists.drafts, name="drafts"),
    path("drafts/export.csv", lists.drafts_export, name="drafts_export"),
    path(
        "drafts/export.xlsx",
        lists.drafts_export,
        {"file_format": "xlsx"},
        name="drafts_export_xlsx",
    ),
    path("search/", lists.global_search, name="search"),
    path("pickers/<str:source>/", pickers.reference_picker, name="picker"),
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
    path("<kind:kind>/", lists.record_list, name="list"),
    path("<kind:kind>/export.csv", lists.record_export, name="export"),
    path(
        "<kind:kind>/export.xlsx", lists.record_export, {"file_format": "xlsx"}, name="export_xlsx"
    ),
    path("<kind:kind>/<int:key>/", browse.record_detail, name="detail"),
    path("<kind:kind>/<int:key>/refresh/", browse.record_detail_refresh, name="detail_refresh"),
    # Edit: create and edit drafts (contracts: proposals), htmx blank line.
    path("<kind:kind>/new/", edit.record_create, name="create"),
    path("<kind:kind>/new/line/", edit.item_row, name="item_row"),
    path("<kind:kind>/new/pick/", sources.pick_source, name="pick_source"),
    path("<kind:kind>/<int:key>/edit/", edit.record_edit, name="edit"),
    path("<kind:kind>/<int:key>/attachments/", attachments.upload, name="upload"),
]
