from django.apps import AppConfig


class RecordsConfig(AppConfig):
    verbose_name = "Records"
    name = "portal.records"
    label = "records"
    default_auto_field = "django.db.models.BigAutoField"
