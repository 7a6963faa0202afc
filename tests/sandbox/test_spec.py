"""dualentry_api.spec: operation lookup and validation against the vendored spec."""

from dualentry_api import spec


def test_operation_for_matches_a_concrete_path_to_its_template():
    operation = spec.operation_for("get", "/public/v2/customer-refunds/1042/")
    assert operation.template == "/public/v2/customer-refunds/{record_number}/"
    assert operation.path_params == {"record_number": "1042"}


def test_operation_for_prefers_the_longer_literal_template():
    operation = spec.operation_for("POST", "/public/v2/contracts/7/usage/bulk-upsert/")
    assert operation.template == "/public/v2/contracts/{contract_id}/usage/bulk-upsert/"
    assert operation.path_params == {"contract_id": "7"}


def test_operation_for_unknown_path_or_method_is_none():
    assert spec.operation_for("GET", "/public/v2/payment-methods/") is None
    assert spec.operation_for("DELETE", "/public/v2/customer-refunds/1/") is None


def test_nullable_fields_accept_null():
    refund_out = spec.component_schema("PublicCustomerRefundSchemaOut")
    nullable = refund_out["properties"]["payment_method_id"]
    assert spec.violations(nullable, None) == []
    assert spec.violations(nullable, 3) == []
    assert spec.violations(nullable, "3") != []


def test_non_nullable_fields_still_reject_null():
    refund_out = spec.component_schema("PublicCustomerRefundSchemaOut")
    assert spec.violations(refund_out["properties"]["number"], None) != []


def test_preprocessing_drops_the_q_key_and_keeps_no_nullable():
    text = str(spec.load_spec())
    assert "'nullable'" not in text
    assert "'q': " not in text


def test_validate_request_reports_json_paths():
    errors = spec.validate_request(
        "POST",
        "/public/v2/customer-refunds/",
        {"date": "2026-13-01", "company_id": "one", "items": [{"amount": "abc"}]},
    )
    assert "$.company_id: 'one' is not a whole number." in errors
    assert "$.customer_id: This field is required." in errors
    assert "$.items[0].amount: 'abc' is not a valid decimal number." in errors
    assert "$.items[0].position: This field is required." in errors
    assert "$.date: '2026-13-01' is not a valid date (YYYY-MM-DD)." in errors


def test_validate_request_accepts_a_valid_body():
    body = {
        "date": "2026-10-01",
        "company_id": 1,
        "customer_id": 2,
        "account_number": 1000,
        "currency_iso_4217_code": "USD",
        "exchange_rate": 1,
        "payment_method_id": None,
        "transaction_date": None,
        "items": [{"amount": "10.00", "position": 0, "customer_credit_number": None}],
    }
    assert spec.validate_request("POST", "/public/v2/customer-refunds/", body) == []


def test_validate_response_checks_the_declared_status():
    error_body = {"success": False, "errors": {"__all__": ["Not found."]}}
    assert spec.validate_response("GET", "/public/v2/customer-refunds/5/", 404, error_body) == []
    assert spec.validate_response("GET", "/public/v2/customer-refunds/5/", 404, {"x": 1}) != []
    assert spec.validate_response("GET", "/public/v2/health/", 418, {}) == [
        "$: GET /public/v2/health/ declares no 418."
    ]


def test_every_operation_schema_is_a_valid_2020_12_schema():
    operations = list(spec.operations())
    assert len(operations) == 83  # the subset's operation count (dualentry_api/openapi/NOTES.md)
    checked = 0
    for operation in operations:
        schemas = [operation.response_schema(status) for status in operation.statuses]
        schemas += [operation.request_schema(ct) for ct in operation.request_content_types]
        for schema in filter(None, schemas):
            # Raises SchemaError for a schema the preprocessing left invalid.
            type(spec.validator(schema)).check_schema(schema)
            checked += 1
    assert checked > 83
