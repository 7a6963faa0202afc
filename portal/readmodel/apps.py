from django.apps import AppConfig


class ReadModelConfig(AppConfig):
    verbose_name = "Read model"
    name = "portal.readmodel"
    label = "readmodel"

    def ready(self) -> None:
        from portal.readmodel import checks  # noqa: F401  (registers the system checks)
