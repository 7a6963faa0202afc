"""Hypothesis fuzzing of every edit form: random text, huge numbers, bad dates, unicode,
missing fields and broken formset counts never give a 500 (nor an exception in the forms)."""

from __future__ import annotations

import secrets

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.records.forms import validate_record_forms
from portal.records.kinds import KINDS
from portal.records.payloads import payload_from_forms
from tests.records.test_forms import FORMS, REFERENCES

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Each example is a real request through the whole stack: fewer of them keep the suite quick.
VIEW_FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

nasty_values = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-0",
            "-1",
            "1e309",
            "NaN",
            "Infinity",
            "1,000.00",
            "١٢٣",
            "0x1F",
            "9" * 40,
            "-" + "9" * 25 + ".999",
            "0." + "0" * 30 + "1",
            "2025-02-30",
            "2025-13-01",
            "0000-00-00",
            "9999-12-31",
            "1899-12-31",
            "2025/03/14",
            "today",
            "\x00",
            "🙂",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "1" * 5000,
            "USD",
            "usd",
            "draft",
            "PERCENTAGE",
            "301",
            "101",
            "11000",
            "1",
            "9001",
            "on",
        ]
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=8).map(str),
    st.dates().map(lambda day: day.isoformat()),
)
formset_counts = st.one_of(
    st.integers(min_value=0, max_value=4).map(str), st.sampled_from(["-1", "abc", "", "100000"])
)


def _field_names(name: str) -> tuple[list[str], list[str]]:
    form_class, formset_class = FORMS[name]
    header = list(form_class(references=REFERENCES).fields)
    line = [*formset_class.form(references=REFERENCES).fields, "DELETE"]
    return header, line


@st.composite
def form_data(draw, name: str) -> dict[str, str]:
    header, line = _field_names(name)
    data = {
        field: draw(nasty_values)
        for field in header
        if draw(st.booleans()) or draw(st.booleans())  # most fields present, some missing
    }
    total = draw(formset_counts)
    if draw(st.booleans()) or draw(st.booleans()):
        data["items-TOTAL_FORMS"] = total
        data["items-INITIAL_FORMS"] = draw(st.sampled_from(["0", "0", "1", "x"]))
    for index in range(draw(st.integers(min_value=0, max_value=3))):
        for field in line:
            if draw(st.booleans()):
                data[f"items-{index}-{field}"] = draw(nasty_values)
    return data


def _as_query(data: dict[str, str]) -> QueryDict:
    query = QueryDict(mutable=True)
    query.update(data)
    return query


@pytest.mark.parametrize("name", sorted(FORMS))
def test_forms_never_raise(name):
    form_class, formset_class = FORMS[name]
    kind = KINDS["contracts" if name in ("contract", "usage") else f"{name}s"]

    @FUZZ
    @given(data=form_data(name))
    def run(data):
        query = _as_query(data)
        form = form_class(query, references=REFERENCES)
        formset = formset_class(
            query, form_kwargs={"references": REFERENCES, "company_id": form.company_id}
        )
        if validate_record_forms(form, formset):
            payload = payload_from_forms(
                kind=kind, form=form, formset=formset, record_status="draft"
            )
            assert payload[form.items_field]
        formset.running_total()  # the running total copes with anything typed
        form.sections()

    run()


CREATE_URLS = {
    "refund": "/refunds/new/",
    "deposit": "/deposits/new/",
    "credit": "/credits/new/",
    "contract": "/contracts/new/",
}


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_settings")
@pytest.mark.parametrize("name", sorted(CREATE_URLS))
def test_create_views_never_answer_500(name, login_as, preparer):
    client = login_as(preparer)
    client.raise_request_exception = True
    url = CREATE_URLS[name]

    @VIEW_FUZZ
    @given(
        data=form_data(name),
        htmx=st.booleans(),
        control=st.sampled_from(["", "_refresh", "_add_line", "_partial"]),
    )
    def run(data, htmx, control):
        data = {**data, "form_token": secrets.token_urlsafe(24)}
        if control:
            data[control] = "total" if control == "_partial" else "1"
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.post(url, data, headers=headers)
        assert response.status_code in (200, 302, 409, 422, 502, 503), response.status_code

    run()


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_settings")
def test_edit_and_usage_views_never_answer_500(login_as, preparer, sandbox):
    client = login_as(preparer)
    client.raise_request_exception = True
    draft = next(
        record["number"]
        for record in sandbox.store.collection("customer-refunds").values()
        if record["record_status"] == "draft"
    )
    contract = next(
        record["id"]
        for record in sandbox.store.collection("contracts").values()
        if record["obligations"]
    )

    @VIEW_FUZZ
    @given(
        refund=form_data("refund"),
        usage=form_data("usage"),
        version=nasty_values,
        base=nasty_values,
        line_params=st.dictionaries(
            st.sampled_from(["items-TOTAL_FORMS", "company_id", "usage_contract"]), nasty_values
        ),
    )
    def run(refund, usage, version, base, line_params):
        response = client.post(
            f"/refunds/{draft}/edit/", {**refund, "version": version, "base": base}
        )
        assert response.status_code in (200, 302, 409, 422, 502, 503)
        response = client.post(
            f"/contracts/{contract}/usage/", {**usage, "form_token": secrets.token_urlsafe(24)}
        )
        assert response.status_code in (200, 302, 409, 422, 502, 503)
        response = client.get("/refunds/new/line/", line_params)
        assert response.status_code in (200, 404, 422, 502, 503)

    try:
        run()
    finally:
        sandbox.reset()
