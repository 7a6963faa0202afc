from django.apps import AppConfig


class RecordsConfig(AppConfig):
    verbose_name = "Records"
    name = "portal.records"
    label = "records"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The read model sits below records: it learns the kinds and reference lists here.
        from portal.readmodel.registry import ReferenceSpec, register, register_reference
        from portal.records.kinds import KINDS
        from portal.records.references import SOURCES

        for kind in KINDS.values():
            register(kind.mirror)
        for source in SOURCES.values():
            if source.resource:
                register_reference(
                    ReferenceSpec(
                        source=source.name,
                        resource=source.resource,
                        key_field=source.key_field,
                        type_field="account_type" if source.name == "accounts" else "",
                        filters=dict(source.filters),
                    )
                )
