"""URLs of the approvals area (namespace "approvals", mounted at the site root; `<kind:...>` is
registered by the records app).

The record-level paths (`/<kind>/<key>/submit/`, `/change/`, `/archive/`) end in suffixes the
records area does not use, so the order of the two includes does not matter.
"""

from django.urls import path

from portal.approvals import views

app_name = "approvals"

urlpatterns = [
    path("approvals/", views.approval_index, name="index"),
    path("approvals/<int:pk>/", views.approval_detail, name="detail"),
    path("approvals/<int:pk>/approve/", views.approval_approve, name="approve"),
    path("approvals/<int:pk>/reject/", views.approval_reject, name="reject"),
    path("approvals/<int:pk>/withdraw/", views.approval_withdraw, name="withdraw"),
    path("approvals/<int:pk>/retry/", views.approval_retry, name="retry"),
    path("approvals/<int:pk>/comment/", views.approval_comment, name="comment"),
    path("<kind:kind>/<int:key>/submit/", views.submit_record, name="submit_record"),
    path("<kind:kind>/<int:key>/change/", views.change_record, name="change_record"),
    path("<kind:kind>/<int:key>/archive/", views.archive_record, name="archive_record"),
    path("contracts/proposals/<int:pk>/submit/", views.submit_proposal, name="submit_proposal"),
]
