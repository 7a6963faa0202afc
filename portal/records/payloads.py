"""Request bodies: from forms to the API and back. Pure functions, no HTTP, no database.

- `payload_from_forms`: a valid header form + line formset -> the exact API body (Decimal and
  date values kept as such; the client serialises them exactly).
- `initial_from_payload`: a body -> the forms' initial data (header, lines).
- `payload_from_record`: a record as DualEntry returns it -> a full PUT body. A deposit's GET
  has no line amounts (and names accounts by id): they come from the last body the portal sent
  for it, if it still describes the same lines, and from the account list.
- `payload_with_line_ids`: after a save, the sent body with DualEntry's line ids filled in, so
  the next edit matches remembered lines to the record's lines by id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dualentry_api.records import as_decimal
from portal.records.forms import ADDRESS_PARTS

if TYPE_CHECKING:
    from portal.records.forms import ItemFormSet, RecordForm
    from portal.records.kinds import RecordKind

__all__ = [
    "deposit_line_amounts_known",
    "initial_from_payload",
    "payload_from_forms",
    "payload_from_record",
    "payload_total",
    "payload_with_attachments",
    "payload_with_custom_fields",
    "payload_with_line_ids",
]

# Body fields the forms do not edit but a full PUT must carry on.
_NOT_IN_FORMS = ("record_status", "attachments", "custom_fields")


def payload_from_forms(
    *, kind: RecordKind, form: RecordForm, formset: ItemFormSet, record_status: str
) -> dict[str, Any]:
    """The API body for a valid form and formset (call `validate_record_forms` first).

    Empty optional values are left out (the API's default applies, which for every such
    field is null or ""); lines get `position` 0, 1, 2... in the order shown. Kinds with a
    `record_status` field get the one given (contracts carry their own `status` field).
    """
    payload: dict[str, Any] = {}
    for name in form.api_fields():
        value = form.cleaned_data.get(name)
        if value is not None:
            payload[name] = value
    lines = []
    for position, line_form in enumerate(formset.line_forms()):
        line: dict[str, Any] = {}
        for name in line_form.api_fields():
            value = line_form.cleaned_data.get(name)
            if value is not None:
                line[name] = value
        if "position" in line_form.schema_fields():
            line["position"] = position
        lines.append(line)
    payload[form.items_field] = lines
    if kind.status_field == "record_status" and "record_status" in form.schema_fields():
        payload["record_status"] = record_status
    return payload


def initial_from_payload(
    *, kind: RecordKind, payload: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Initial data for the header form and for each line, from a body."""
    form_class = kind.forms.header
    if payload.get("items") is not None and form_class.items_field not in payload:
        items_field = "items"  # a usage batch
    else:
        items_field = form_class.items_field
    return _initial(form_class, payload, items_field)


def _initial(
    form_class: type[RecordForm], payload: Mapping[str, Any], items_field: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    initial: dict[str, Any] = {}
    for name, value in payload.items():
        if name == items_field or name in _NOT_IN_FORMS:
            continue
        if name in form_class.address_groups:
            for part in ADDRESS_PARTS:
                part_value = (value or {}).get(part) if isinstance(value, Mapping) else None
                initial[f"{name}.{part}"] = part_value or ""
            continue
        initial[name] = value
    lines = list(payload.get(items_field) or [])
    if lines and all(isinstance(line, Mapping) and "position" in line for line in lines):
        lines.sort(key=lambda line: _int_or_zero(line.get("position")))
    items_initial = [
        {name: value for name, value in line.items() if name != "position"}
        for line in lines
        if isinstance(line, Mapping)
    ]
    return initial, items_initial


def _int_or_zero(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _plain(value: Any) -> Any:
    """A Record (or nested records) as plain dicts and lists; other values unchanged."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _address(value: Any) -> dict[str, Any] | None:
    if not value:
        return None
    value = _plain(value)
    if not isinstance(value, Mapping):
        return None
    address = {part: value.get(part) or "" for part in ADDRESS_PARTS if part != "name"}
    address["name"] = value.get("name") or None
    if not any(address[part] for part in ("street", "city", "postal_code")):
        return None
    return address


def payload_from_record(
    *,
    kind: RecordKind,
    record: Mapping[str, Any],
    sent_payload: Mapping[str, Any] | None = None,
    accounts: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """A full PUT body rebuilt from a record as DualEntry returns it.

    `sent_payload` is the last body the portal sent for this record (`SentPayload`);
    `accounts` maps account ids to account numbers (a deposit names its accounts by id).
    For a deposit, line amounts are taken from `sent_payload` only if its lines are the
    record's lines (same ids) and add up to the record's amount; otherwise the lines come
    without `amount`, and `deposit_line_amounts_known` is False: the form asks for them.
    """
    form_class = kind.forms.header
    item_form_class = kind.forms.line
    payload: dict[str, Any] = {}
    for name in form_class.api_fields():
        if name in form_class.address_groups:
            address = _address(record.get(name))
            if address is not None:
                payload[name] = address
            continue
        value = record.get(name)
        if value is not None:
            payload[name] = _plain(value)
    lines = []
    for position, record_line in enumerate(record.get(form_class.items_field) or []):
        line = {}
        for name in item_form_class.api_fields():
            value = record_line.get(name)
            if value is not None:
                line[name] = _plain(value)
        if "position" in item_form_class.schema_fields():
            line["position"] = position
        lines.append(line)
    payload[form_class.items_field] = lines
    if kind.status_field == "record_status" and record.get("record_status"):
        payload["record_status"] = record.get("record_status")
    payload = payload_with_attachments(payload=payload, record=record)
    payload = payload_with_custom_fields(payload=payload, record=record)
    if not kind.returns_line_amounts:
        payload = _deposit_from_record(payload, record, sent_payload, accounts or {})
    return payload


def _deposit_from_record(
    payload: dict[str, Any],
    record: Mapping[str, Any],
    sent_payload: Mapping[str, Any] | None,
    accounts: Mapping[int, int],
) -> dict[str, Any]:
    sent_lines = list((sent_payload or {}).get("items") or [])
    # The header's account: the GET names it by id.
    number = accounts.get(record.get("account_id")) if record.get("account_id") else None
    if number is None and sent_payload and sent_payload.get("account_number") is not None:
        number = sent_payload["account_number"]
    if number is not None:
        payload["account_number"] = number
    sent_by_id = {
        line.get("id"): line for line in sent_lines if isinstance(line, Mapping) and line.get("id")
    }
    record_lines = list(record.get("items") or [])
    matched = [sent_by_id.get(line.get("id")) for line in record_lines]
    total = sum((as_decimal(line.get("amount")) or Decimal(0)) for line in matched if line)
    amount = as_decimal(record.get("amount"))
    trust_amounts = (
        bool(record_lines)
        and all(line is not None and as_decimal(line.get("amount")) is not None for line in matched)
        and amount is not None
        and total == amount
    )
    for line, record_line, sent_line in zip(payload["items"], record_lines, matched, strict=True):
        account_id = record_line.get("account_id")
        line_number = accounts.get(account_id) if account_id is not None else None
        if line_number is None and sent_line and sent_line.get("account_number") is not None:
            line_number = sent_line["account_number"]
        if line_number is not None:
            line["account_number"] = line_number
        if trust_amounts and sent_line is not None:
            line["amount"] = as_decimal(sent_line["amount"])
    return payload


def deposit_line_amounts_known(payload: Mapping[str, Any]) -> bool:
    """Whether every line of a rebuilt body has its amount (always true for non-deposits)."""
    return all(
        isinstance(line, Mapping) and line.get("amount") is not None
        for line in payload.get("items") or []
    )


def payload_with_attachments(
    *, payload: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    """The body with the record's current attachments, unless it names attachments itself.

    A PUT replaces the whole record: a body without `attachments` could drop them.
    """
    result = dict(payload)
    if "attachments" in result:
        return result
    attachments = record.get("attachments")
    if attachments is None:
        return result
    result["attachments"] = [
        {
            "id": attachment.get("id"),
            "file_name": attachment.get("file_name"),
            "file_size": attachment.get("file_size"),
        }
        for attachment in attachments
        if attachment.get("id") is not None
    ]
    return result


def payload_with_custom_fields(
    *, payload: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    """The body with the record's custom field values, unless it names custom fields itself.

    The forms do not edit custom fields; a full PUT should not drop them. They are sent in the
    id-based shape DualEntry documents for input: `{"field": {"id": N}, "value":
    {"custom_field_id": N, "value": ...}}`.
    """
    result = dict(payload)
    if "custom_fields" in result:
        return result
    carried = []
    for pair in record.get("custom_fields") or []:
        field_out, value_out = pair.get("field"), pair.get("value")
        if field_out is None or field_out.get("id") is None or value_out is None:
            continue
        carried.append(
            {
                "field": {"id": field_out.get("id")},
                "value": {
                    "custom_field_id": value_out.get("custom_field_id") or field_out.get("id"),
                    "value": _plain(value_out.get("value")),
                },
            }
        )
    if carried:
        result["custom_fields"] = carried
    return result


def payload_with_line_ids(
    *, kind: RecordKind, payload: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    """The sent body with DualEntry's line ids (answer lines are in position order)."""
    items_field = kind.forms.header.items_field
    sent_lines = payload.get(items_field)
    record_lines = record.get(items_field)
    result = dict(payload)
    if not isinstance(sent_lines, Sequence) or not isinstance(record_lines, Sequence):
        return result
    if len(sent_lines) != len(record_lines):
        return result
    ordered = sorted(
        range(len(sent_lines)), key=lambda index: _int_or_zero(sent_lines[index].get("position"))
    )
    lines = [dict(line) for line in sent_lines]
    for index, record_line in zip(ordered, record_lines, strict=True):
        line_id = record_line.get("id")
        if line_id is not None:
            lines[index]["id"] = line_id
    result[items_field] = lines
    return result


def payload_total(*, kind: RecordKind, payload: Mapping[str, Any]) -> Decimal | None:
    """The total the API will compute for this body (None if a line cannot be priced)."""
    form_class = kind.forms.header
    item_form_class = kind.forms.line
    total = Decimal("0.00")
    for line in payload.get(form_class.items_field) or []:
        values = {name: as_decimal(line.get(name)) for name in item_form_class.total_fields}
        if "discount_type" in line:
            values["discount_type"] = line.get("discount_type")
        amount = item_form_class.line_amount(values)
        if amount is None:
            return None
        total += amount
    return total
