from django.apps import AppConfig
from django.db.models.signals import post_save


class OpsConfig(AppConfig):
    """Running in production: the metrics watch the API client and the audit log from
    outside, so neither imports them."""

    name = "portal.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from dualentry_api.transport import add_call_observer
        from portal.audit.models import AuditEvent
        from portal.ops import metrics

        add_call_observer(metrics.observe_upstream_call)
        post_save.connect(
            metrics.audit_event_saved, sender=AuditEvent, dispatch_uid="portal-approval-metrics"
        )
