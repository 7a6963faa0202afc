from django.apps import AppConfig


class DualEntryApiConfig(AppConfig):
    name = "dualentry_api"
    verbose_name = "DualEntry API client"
    default_auto_field = "django.db.models.BigAutoField"
