"""The audit log in Django admin: read-only for people who may read it, for everyone."""

from django.contrib import admin
from django.http import HttpRequest

from portal.audit.models import AuditEvent
from portal.permissions import VIEW_AUDIT_LOG


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "sequence",
        "occurred_at",
        "actor_username",
        "action",
        "success",
        "kind",
        "key",
        "summary",
    )
    list_filter = ("action", "success", "kind")
    search_fields = ("key", "actor_username", "summary", "correlation_id", "upstream_request_id")
    date_hierarchy = "occurred_at"
    ordering = ("-sequence",)
    list_select_related = False
    show_full_result_count = False  # COUNT(*) on a long log is slow and not needed

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.has_perm(VIEW_AUDIT_LOG)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm(VIEW_AUDIT_LOG)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
