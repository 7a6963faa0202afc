from django.apps import AppConfig
from django.db.models.signals import post_save


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "DualEntry portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Metrics watch the API client and the audit log from outside: neither imports them.
        from dualentry_api.transport import add_call_observer
        from portal.audit.models import AuditEvent
        from portal.ops import metrics

        add_call_observer(metrics.observe_upstream_call)
        post_save.connect(
            metrics.audit_event_saved, sender=AuditEvent, dispatch_uid="portal-approval-metrics"
        )
