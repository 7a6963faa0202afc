"""List pages of every kind against the sandbox: filters to query parameters, pagination edges,
htmx partials, reference names from the cache, sorting, CSV export."""

import csv
import io

import pytest

from portal.records.filters import DEFAULT_PAGE_SIZE
from portal.records.kinds import KINDS, get_kind
from tests.records.browse_support import (
    EN_DASH,
    KIND_PARAMS,
    collection_path,
    list_requests,
    query_of,
    seeded,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def browse(sandbox_settings, sandbox, login_as, viewer):
    sandbox.reset()
    return login_as(viewer)


def _filter_values(kind) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """A value for every filter the kind offers, and what the API must receive for it."""
    sent: list[tuple[str, str]] = []
    expected: dict[str, list[str]] = {}
    for flt in kind.filters:
        if flt.kind == "multi_choice":
            values = [flt.choices[0][0], flt.choices[1][0]]
        elif flt.kind == "reference":
            values = ["1", "2"] if flt.reference == "companies" else ["101"]
        elif flt.kind == "date":
            values = ["2025-03-31"]
        elif flt.kind == "boolean":
            values = ["true"]
        elif flt.param == "transaction_currency":
            sent.append((flt.param, "usd"))
            expected[flt.param] = ["USD"]
            continue
        else:
            values = ["refund of"]
        sent += [(flt.param, value) for value in values]
        expected[flt.param] = values
    return sent, expected


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_every_filter_maps_to_the_api_query_parameter_of_the_same_name(browse, sandbox, slug):
    kind = get_kind(slug)
    sent, expected = _filter_values(kind)
    ordering = kind.ordering_choices[0][0]
    query = [*sent, ("ordering", ordering), ("limit", "25"), ("offset", "25")]
    response = browse.get(f"/{slug}/", dict_list(query))
    assert response.status_code == 200
    (request,) = list_requests(sandbox, kind)
    received = query_of(request)
    for param, values in expected.items():
        assert received[param] == values, param  # arrays repeat: company_id=1&company_id=2
    assert received["ordering"] == [ordering]
    assert received["limit"] == ["25"]
    assert received["offset"] == ["25"]


def dict_list(pairs):
    """A QueryDict-like mapping for the test client: repeated keys become lists."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_no_filters_asks_for_the_default_page_in_the_apis_default_order(browse, sandbox, slug):
    kind = get_kind(slug)
    browse.get(f"/{slug}/")
    (request,) = list_requests(sandbox, kind)
    assert query_of(request) == {"limit": [str(DEFAULT_PAGE_SIZE)], "offset": ["0"]}


def test_invalid_filter_values_are_left_out_and_explained(browse, sandbox):
    response = browse.get(
        "/refunds/",
        {"start_date": "31/02/2025", "record_status": ["draft", "pending"], "search": "x"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters were not used" in html
    received = query_of(list_requests(sandbox, KINDS["refunds"])[0])
    assert "start_date" not in received
    assert "record_status" not in received
    assert received["search"] == ["x"]


@pytest.mark.parametrize(("asked", "sent"), [("100", "100"), ("25", "25"), ("7", "50"), ("", "50")])
def test_page_size_is_25_50_or_100(browse, sandbox, asked, sent):
    browse.get("/refunds/", {"limit": asked})
    assert query_of(list_requests(sandbox, KINDS["refunds"])[0])["limit"] == [sent]


def test_sorting_only_uses_orderings_the_api_supports(browse, sandbox):
    browse.get("/refunds/", {"ordering": "-number"})
    browse.get("/refunds/", {"ordering": "amount; drop table"})
    first, second = list_requests(sandbox, KINDS["refunds"])
    assert query_of(first)["ordering"] == ["-number"]
    assert "ordering" not in query_of(second)


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_first_page_says_which_records_of_how_many(browse, sandbox, slug):
    kind = get_kind(slug)
    total = len(seeded(sandbox, kind))
    response = browse.get(f"/{slug}/", {"limit": "25"})
    html = response.content.decode()
    assert f"1{EN_DASH}25 of {total:,}" in html
    assert 'rel="next"' in html
    assert 'rel="prev"' not in html
    first = seeded(sandbox, kind)[0]
    assert f'href="/{slug}/{first[kind.key_field]}/"' in html


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_last_page_has_no_next_link(browse, sandbox, slug):
    kind = get_kind(slug)
    total = len(seeded(sandbox, kind))
    last_offset = (total - 1) // 25 * 25
    response = browse.get(f"/{slug}/", {"limit": "25", "offset": str(last_offset)})
    html = response.content.decode()
    assert f"{last_offset + 1}{EN_DASH}{total} of {total}" in html
    assert 'rel="next"' not in html
    assert f"offset={last_offset - 25}" in html  # previous page keeps the page size
    assert html.count("<tr>") - 1 == total - last_offset  # rows plus the header row


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_offset_beyond_the_count_offers_the_last_page(browse, sandbox, slug):
    kind = get_kind(slug)
    total = len(seeded(sandbox, kind))
    response = browse.get(f"/{slug}/", {"limit": "50", "offset": "5000", "search": ""})
    assert response.status_code == 200
    html = response.content.decode()
    assert "This page is past the end" in html
    assert f"only {total} {kind.label_plural}" in html
    assert f"offset={(total - 1) // 50 * 50}" in html


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_no_match_says_so_without_pagination(browse, slug):
    kind = get_kind(slug)
    response = browse.get(f"/{slug}/", {"search": "no record has this text 7f3a"})
    html = response.content.decode()
    assert f"No {kind.label_plural} match these filters" in html
    assert "Clear the filters" in html
    assert 'class="pagination"' not in html
    assert "past the end" not in html


def test_draft_filter_lists_only_drafts(browse, sandbox):
    kind = KINDS["refunds"]
    drafts = seeded(sandbox, kind, record_status="draft")
    others = seeded(sandbox, kind, record_status="posted")
    html = browse.get("/refunds/", {"record_status": "draft", "limit": "100"}).content.decode()
    assert f"of {len(drafts)}" in html
    for record in drafts:
        assert f'href="/refunds/{record["number"]}/"' in html
    assert f'href="/refunds/{others[0]["number"]}/"' not in html


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_htmx_request_gets_only_the_table(browse, slug):
    response = browse.get(f"/{slug}/", {"limit": "25"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "<table>" in html
    assert 'class="filters"' not in html
    assert "HX-Request" in response["Vary"]


def test_full_page_has_the_filter_form_and_the_table_target(browse):
    response = browse.get("/refunds/")
    html = response.content.decode()
    assert "<html" in html
    assert 'id="records-table"' in html
    assert 'method="get"' in html
    assert 'hx-push-url="true"' in html
    assert '<fieldset class="choice-group"><legend>Status</legend>' in html  # checkbox groups
    assert '<label for="id_record_status_0"><input type="checkbox"' in html
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(browse):
    response = browse.get(
        "/refunds/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_warm_list_page_costs_exactly_one_upstream_call(browse, sandbox, slug):
    kind = get_kind(slug)
    browse.get(f"/{slug}/")  # cold: the list plus the reference lists its filters need
    cold = list(sandbox.requests_log)
    assert len(cold) > 1
    assert {entry["path"] for entry in cold} >= {"/public/v2/companies/", "/public/v2/customers/"}
    sandbox.clear_log()
    response = browse.get(f"/{slug}/", {"search": "a"})
    assert response.status_code == 200
    assert [entry["path"] for entry in sandbox.requests_log] == [collection_path(kind)]


def test_customer_choices_come_from_the_cached_names(browse, sandbox):
    customer = seeded(sandbox, KINDS["refunds"])[0]
    html = browse.get("/refunds/").content.decode()
    assert f'<option value="{customer["customer_id"]}">' in html
    assert "Names as of" in html


def test_a_customer_id_missing_from_the_names_still_filters(browse, sandbox):
    response = browse.get("/refunds/", {"customer_id": "999999"})
    assert response.status_code == 200
    assert '<option value="999999" selected>#999999</option>' in response.content.decode()
    assert query_of(list_requests(sandbox, KINDS["refunds"])[0])["customer_id"] == ["999999"]


def test_amounts_show_their_currency(browse, sandbox):
    record = seeded(sandbox, KINDS["refunds"])[0]
    html = browse.get("/refunds/", {"limit": "25"}).content.decode()
    amount = f"{float(record['amount']):,.2f}\u00a0{record['currency_iso_4217_code']}"
    assert amount in html


# --- CSV export ----------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_export_streams_every_filtered_record_page_by_page(browse, sandbox, monkeypatch):
    monkeypatch.setattr("portal.records.views.browse.EXPORT_PAGE_SIZE", 10)
    kind = KINDS["refunds"]
    drafts = seeded(sandbox, kind, record_status="draft")
    response = browse.get("/refunds/export.csv", {"record_status": "draft", "offset": "40"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    # Only the first page is fetched before the download starts.
    assert len(list_requests(sandbox, kind)) == 1
    rows = _csv(response)
    assert rows[0][:3] == ["Number", "Posting date", "Customer"]
    assert [row[0] for row in rows[1:]] == [str(record["number"]) for record in drafts]
    requests = list_requests(sandbox, kind)
    assert len(drafts) > 10
    assert len(requests) == -(-len(drafts) // 10)  # ceil: one request per page of 10
    assert [query_of(entry)["offset"] for entry in requests][:2] == [["0"], ["10"]]
    assert all(query_of(entry)["record_status"] == ["draft"] for entry in requests)


def test_export_keeps_amounts_exact_with_their_currency(browse, sandbox):
    record = seeded(sandbox, KINDS["refunds"])[0]
    rows = _csv(browse.get("/refunds/export.csv"))
    header, first = rows[0], rows[1]
    assert first[header.index("Amount")] == record["amount"]
    assert first[header.index("Amount currency")] == record["currency_iso_4217_code"]


def test_export_defuses_spreadsheet_formulas(browse, sandbox):
    refund = seeded(sandbox, KINDS["refunds"])[0]
    refund["memo"] = '=HYPERLINK("http://evil")'
    sandbox.store.save("customer-refunds", refund)
    rows = _csv(browse.get("/refunds/export.csv", {"search": str(refund["number"])}))
    memo = rows[0].index("Memo")
    assert [row[memo] for row in rows[1:] if row[0] == str(refund["number"])] == [
        '\'=HYPERLINK("http://evil")'
    ]


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_export_of_each_kind_has_a_row_per_record(browse, sandbox, slug):
    kind = get_kind(slug)
    rows = _csv(browse.get(f"/{slug}/export.csv"))
    assert len(rows) - 1 == len(seeded(sandbox, kind))
