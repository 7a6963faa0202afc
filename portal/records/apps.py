from django.apps import AppConfig


class RecordsConfig(AppConfig):
    verbose_name = "Records"
    name = "portal.records"
    label = "records"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import register_converter

        from portal.records.kinds import KINDS, KindConverter

        # `<kind:...>` in records' and approvals' URLs: a kind's slug, resolved to its RecordKind.
        register_converter(KindConverter, "kind")

        # The read model sits below records: it learns the kinds and reference lists here.
        from portal.readmodel.registry import ReferenceSpec, register, register_reference
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
        # What refund and deposit lines apply (prepayments, payments, ...): the pickers and
        # money rules read them from the copy (credits are a record kind of their own).
        from portal.records.money_rules import MIRRORED_SOURCE_LISTS

        for source_type in MIRRORED_SOURCE_LISTS:
            register_reference(
                ReferenceSpec(
                    source=source_type.mirror_source,
                    resource=source_type.resource,
                    key_field="number",
                    name_field="vendor_name" if not source_type.has_customer else "customer_name",
                )
            )
