"""List pages of every kind, answered from the read model: sorting, filters, search, totals per
currency, paging edges, htmx partials, CSV/XLSX exports of exactly the screen's rows, bad input.

The read model is filled from the sandbox first (`filled`, a full sync); afterwards no list,
search, total or export may call DualEntry (the sandbox's request log stays empty).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import defaultdict
from decimal import Decimal
from xml.etree import ElementTree

import pytest

from portal.records.kinds import KINDS, get_kind
from portal.records.listing import parse_amount
from tests.records.browse_support import EN_DASH, KIND_PARAMS, seeded

pytestmark = pytest.mark.django_db

ROW_LINK = re.compile(r'<th scope="row"><a href="/(\w+)/(\d+)/">')


@pytest.fixture
def browse(filled, login_as, viewer):
    return login_as(viewer)


def keys_on_page(html: str) -> list[str]:
    return [key for _, key in ROW_LINK.findall(html)]


def all_screen_keys(client, path: str, params: dict) -> list[str]:
    """Every row the list shows for these parameters, page after page."""
    keys: list[str] = []
    offset = 0
    while True:
        html = client.get(path, {**params, "limit": "25", "offset": str(offset)}).content.decode()
        page = keys_on_page(html)
        keys += page
        if 'rel="next"' not in html:
            return keys
        offset += 25


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


_NS = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _xlsx(response) -> list[list[object]]:
    """The first sheet's cells: numbers as Decimal, strings as text (inline or shared)."""
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(f"{{{_NS['x']}}}t"))
                      for si in root.findall("x:si", _NS)]  # fmt: skip
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{{{_NS['x']}}}row"):
        values: list[object] = []
        for cell in row.findall("x:c", _NS):
            column = re.match(r"[A-Z]+", cell.get("r")).group()
            index = 0
            for letter in column:
                index = index * 26 + ord(letter) - 64
            while len(values) < index - 1:
                values.append(None)
            kind = cell.get("t")
            if kind == "inlineStr":
                values.append("".join(t.text or "" for t in cell.iter(f"{{{_NS['x']}}}t")))
            elif kind == "s":
                values.append(shared[int(cell.find("x:v", _NS).text)])
            else:
                values.append(Decimal(cell.find("x:v", _NS).text))
        rows.append(values)
    return rows


# --- sorting ---------------------------------------------------------------------------------


def _amount(record) -> Decimal:
    return Decimal(str(record["amount"]))


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_default_order_is_newest_posting_date_first(browse, sandbox, slug):
    kind = get_kind(slug)
    html = browse.get(f"/{slug}/", {"limit": "100"}).content.decode()
    dates = [record["date"] for record in seeded(sandbox, kind)]
    by_key = {str(record[kind.key_field]): record["date"] for record in seeded(sandbox, kind)}
    shown = [by_key[key] for key in keys_on_page(html)]
    assert shown == sorted(shown, reverse=True)
    assert len(shown) == min(100, len(dates))
    if any(column.field == "date" for column in kind.list_columns):
        assert 'aria-sort="descending"' in html  # contracts list no date column to mark


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_sorting_by_amount_both_ways(browse, sandbox, slug):
    kind = get_kind(slug)
    records = {str(record[kind.key_field]): record for record in seeded(sandbox, kind)}
    up = all_screen_keys(browse, f"/{slug}/", {"sort": "amount"})
    down = all_screen_keys(browse, f"/{slug}/", {"sort": "-amount"})
    assert sorted(up) == sorted(records)  # every record once, across the pages
    assert [_amount(records[key]) for key in up] == sorted(_amount(r) for r in records.values())
    assert [_amount(records[key]) for key in down] == sorted(
        (_amount(r) for r in records.values()), reverse=True
    )


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_a_header_click_sorts_and_a_second_click_reverses(browse, slug):
    html = browse.get(f"/{slug}/").content.decode()
    # Amount is not the current sort: its header offers largest first.
    assert re.search(r'aria-sort="none">\s*<a class="sort-link" href="\?sort=-amount"', html)
    html = browse.get(f"/{slug}/", {"sort": "-amount"}).content.decode()
    assert re.search(r'aria-sort="descending">\s*<a class="sort-link" href="\?sort=amount"', html)
    html = browse.get(f"/{slug}/", {"sort": "amount"}).content.decode()
    assert re.search(r'aria-sort="ascending">\s*<a class="sort-link" href="\?sort=-amount"', html)


def test_sorting_by_customer_and_by_number(browse, sandbox):
    kind = KINDS["refunds"]
    records = {str(record["number"]): record for record in seeded(sandbox, kind)}
    by_customer = all_screen_keys(browse, "/refunds/", {"sort": "customer"})
    names = [records[key]["customer_name"] or "" for key in by_customer]
    assert names == sorted(names)
    by_number = all_screen_keys(browse, "/refunds/", {"sort": "-number"})
    assert [int(key) for key in by_number] == sorted((int(k) for k in records), reverse=True)


def test_credits_sort_by_remaining(browse, sandbox):
    records = {str(r["number"]): r for r in seeded(sandbox, KINDS["credits"])}
    keys = all_screen_keys(browse, "/credits/", {"sort": "-remaining"})
    remaining = [Decimal(str(records[key]["remaining_amount"])) for key in keys]
    assert remaining == sorted(remaining, reverse=True)


# --- filters and totals ----------------------------------------------------------------------


def _expected_totals(records) -> dict[str, tuple[int, Decimal]]:
    totals: dict[str, list] = defaultdict(lambda: [0, Decimal(0)])
    for record in records:
        entry = totals[record["currency_iso_4217_code"]]
        entry[0] += 1
        entry[1] += _amount(record)
    return {currency: (count, amount) for currency, (count, amount) in totals.items()}


def _shown_totals(html: str) -> dict[str, tuple[int, Decimal]]:
    rows = re.findall(
        r'<tr><th scope="row">(\w+)</th><td class="amount num">([\d,]+)</td>'
        r'<td class="amount num" data-total-currency="\w*">([\d,.\-]+)',
        html,
    )
    return {c: (int(n.replace(",", "")), Decimal(a.replace(",", ""))) for c, n, a in rows}


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_totals_are_per_currency_over_every_filtered_row_not_just_the_page(browse, sandbox, slug):
    kind = get_kind(slug)
    records = seeded(sandbox, kind)
    html = browse.get(f"/{slug}/", {"limit": "25"}).content.decode()
    assert _shown_totals(html) == _expected_totals(records)
    assert len(records) > 25  # the totals cover more than the page
    status = records[0][kind.status_field]
    chosen = [record for record in records if record[kind.status_field] == status]
    html = browse.get(f"/{slug}/", {"status": status, "limit": "25"}).content.decode()
    assert _shown_totals(html) == _expected_totals(chosen)
    assert f"of {len(chosen):,}" in html or len(chosen) <= 25


def test_amount_range_currency_and_date_filters(browse, sandbox):
    records = seeded(sandbox, KINDS["refunds"])
    currency = records[0]["currency_iso_4217_code"]
    low, high = Decimal("100"), Decimal("5000")
    wanted = sorted(
        str(r["number"])
        for r in records
        if low <= _amount(r) <= high
        and r["currency_iso_4217_code"] == currency
        and r["date"] >= "2000-01-01"
    )
    params = {
        "amount_min": "100",
        "amount_max": "5,000.00",
        "currency": currency.lower(),
        "date_from": "2000-01-01",
    }
    assert sorted(all_screen_keys(browse, "/refunds/", params)) == wanted


def test_company_filter_and_the_customer_picker(browse, sandbox):
    records = seeded(sandbox, KINDS["refunds"])
    customer = records[0]["customer_id"]
    wanted = sorted(str(r["number"]) for r in records if r["customer_id"] == customer)
    assert sorted(all_screen_keys(browse, "/refunds/", {"customer": customer})) == wanted
    html = browse.get("/refunds/", {"customer": customer}).content.decode()
    name = records[0]["customer_name"]
    assert f'name="customer" value="{customer}" checked> {name}' in html
    company = records[0]["company_id"]
    wanted = sorted(str(r["number"]) for r in records if r["company_id"] == company)
    assert sorted(all_screen_keys(browse, "/refunds/", {"company": company})) == wanted


def test_picker_search_offers_matching_customers_without_javascript_and_with_htmx(browse, sandbox):
    record = seeded(sandbox, KINDS["refunds"])[0]
    name, customer = record["customer_name"], record["customer_id"]
    part = name[:4]
    html = browse.get("/refunds/", {"customer_q": part}).content.decode()
    assert f'name="customer" value="{customer}"> {name}' in html
    fragment = browse.get(
        "/pickers/customers/", {"field": "customer", "customer_q": part}
    ).content.decode()
    assert f'name="customer" value="{customer}"> {name}' in fragment
    assert "<html" not in fragment
    assert browse.get("/pickers/secrets/", {"field": "customer"}).status_code == 404


def test_remaining_more_than_zero_lists_open_credits(browse, sandbox, fill_copy):
    used_up = seeded(sandbox, KINDS["credits"])[0]
    used_up["remaining_amount"] = "0.00"
    sandbox.store.save("customer-credits", used_up)
    fill_copy()
    records = seeded(sandbox, KINDS["credits"])
    wanted = sorted(str(r["number"]) for r in records if Decimal(str(r["remaining_amount"])) > 0)
    assert 0 < len(wanted) < len(records)
    assert sorted(all_screen_keys(browse, "/credits/", {"open": "yes"})) == wanted


def test_has_attachments_filter(browse, sandbox):
    records = seeded(sandbox, KINDS["refunds"])
    wanted = sorted(str(r["number"]) for r in records if r.get("attachments"))
    assert sorted(all_screen_keys(browse, "/refunds/", {"attachments": "yes"})) == wanted


# --- search ----------------------------------------------------------------------------------


def _big_record(sandbox):
    return next(r for r in seeded(sandbox, KINDS["refunds"]) if _amount(r) >= 1000)


@pytest.mark.parametrize(
    "spelling",
    [
        lambda a: f"{a:.2f}",  # 12000.00
        lambda a: f"{a:,.2f}",  # 12,000.00
        lambda a: f"{a:,.2f}".replace(",", " ").replace(".", ","),  # 12 000,00
        lambda a: f"{a:,.2f}".replace(",", "X").replace(".", ",").replace("X", "."),  # 12.000,00
    ],
)
def test_search_finds_an_amount_written_the_way_people_write_it(browse, sandbox, spelling):
    record = _big_record(sandbox)
    query = spelling(_amount(record))
    keys = all_screen_keys(browse, "/refunds/", {"q": query})
    assert str(record["number"]) in keys
    assert all(
        _amount(r) == _amount(record) for r in seeded(sandbox, KINDS["refunds"])
        if str(r["number"]) in keys and query not in (r.get("memo") or "")
    )  # fmt: skip


def test_search_by_number_customer_name_and_memo(browse, sandbox):
    record = next(r for r in seeded(sandbox, KINDS["refunds"]) if r.get("memo"))
    assert str(record["number"]) in all_screen_keys(browse, "/refunds/", {"q": record["number"]})
    name_part = record["customer_name"].split()[0].upper()
    assert str(record["number"]) in all_screen_keys(browse, "/refunds/", {"q": name_part})
    memo_word = max(record["memo"].split(), key=len)
    assert str(record["number"]) in all_screen_keys(browse, "/refunds/", {"q": memo_word})


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("12000", "12000"),
        ("12,000.00", "12000.00"),
        ("12 000,00", "12000.00"),
        ("12.000,50", "12000.50"),
        ("1,5", "1.5"),
        ("-1,234.5", "-1234.5"),
        ("abc", None),
        ("1e5", None),
        ("", None),
    ],
)
def test_parse_amount(text, amount):
    assert parse_amount(text) == (Decimal(amount) if amount else None)


# --- paging and htmx -------------------------------------------------------------------------


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_first_and_last_page(browse, sandbox, slug):
    kind = get_kind(slug)
    total = len(seeded(sandbox, kind))
    html = browse.get(f"/{slug}/", {"limit": "25"}).content.decode()
    assert f"1{EN_DASH}25 of {total:,}" in html
    assert 'rel="next"' in html and 'rel="prev"' not in html
    last_offset = (total - 1) // 25 * 25
    html = browse.get(f"/{slug}/", {"limit": "25", "offset": str(last_offset)}).content.decode()
    assert f"{last_offset + 1}{EN_DASH}{total} of {total}" in html
    assert 'rel="next"' not in html
    assert len(keys_on_page(html)) == total - last_offset


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_offset_beyond_the_count_offers_the_last_page(browse, sandbox, slug):
    kind = get_kind(slug)
    total = len(seeded(sandbox, kind))
    html = browse.get(f"/{slug}/", {"limit": "50", "offset": "5000"}).content.decode()
    assert "This page is past the end" in html
    assert f"only {total} {kind.label_plural}" in html


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_no_match_says_so(browse, slug):
    kind = get_kind(slug)
    html = browse.get(f"/{slug}/", {"q": "no record has this text 7f3a"}).content.decode()
    assert f"No {kind.label_plural} match these filters" in html
    assert 'class="pagination"' not in html


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_htmx_answer_is_the_table_with_the_export_links_and_sort_out_of_band(browse, slug):
    response = browse.get(
        f"/{slug}/", {"status": "draft", "sort": "amount"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "<html" not in html and 'class="filters"' not in html
    assert "HX-Request" in response["Vary"]
    assert re.search(r'id="export-links"[^>]*hx-swap-oob="true"', html)
    assert f'href="/{slug}/export.csv?status=draft&amp;sort=amount"' in html
    assert f'href="/{slug}/export.xlsx?status=draft&amp;sort=amount"' in html
    assert '<input type="hidden" name="sort" id="list-sort" value="amount" hx-swap-oob="true">' in (
        html
    )


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "sentence"),
    [
        ({"sort": "password"}, "Sort", "cannot be sorted by"),
        ({"sort": "amount; drop table"}, "Sort", "cannot be sorted by"),
        ({"amount_min": "abc"}, "Amount from", "is not an amount"),
        ({"amount_max": "9" * 30}, "Amount to", "is not an amount"),
        ({"q": "x" * 5000}, "Search", "at most 200 characters"),
        ({"date_from": "31/02/2025"}, "Posting date from", "Enter a date like"),
        ({"date_to": "0001-01-01"}, "Posting date to", "between 1900 and 2199"),
        ({"date_to": "99999-12-31"}, "Posting date to", "Enter a date like"),
        ({"currency": "dollars"}, "Currency", "three-letter"),
        ({"status": "pending"}, "Status", "not one of the available choices"),
        ({"customer": "acme"}, "Customer", "not one of the available choices"),
        ({"company": "1 OR 1=1"}, "Company", "not one of the available choices"),
    ],
)
def test_bad_input_gives_the_list_with_a_sentence_and_no_upstream_call(
    browse, filled, params, field, sentence
):
    for slug in ("refunds", "credits"):
        response = browse.get(f"/{slug}/", params)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Some values were not used" in html
        assert f"<li>{field}: " in html and sentence in html
        assert 'class="field-error"' in html or field == "Sort"
        assert keys_on_page(html)  # the list still answers, without that value
        export = browse.get(f"/{slug}/export.csv", params)
        assert export.status_code == 200 and len(_csv(export)) > 1
    assert filled.requests_log == []


# --- exports ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_csv_export_is_exactly_the_screens_rows_in_its_order(browse, filled, slug):
    kind = get_kind(slug)
    status = seeded(filled, kind)[0][kind.status_field]
    params = {"status": status, "sort": "-amount"}
    screen = all_screen_keys(browse, f"/{slug}/", params)
    response = browse.get(f"/{slug}/export.csv", {**params, "offset": "25", "limit": "25"})
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="{slug}_status-{status}_sort-amount_' in response["Content-Disposition"]
    rows = _csv(response)
    assert [row[0] for row in rows[1:]] == screen
    assert filled.requests_log == []


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_xlsx_export_is_the_screens_rows_with_typed_amounts(browse, filled, slug):
    kind = get_kind(slug)
    records = {str(r[kind.key_field]): r for r in seeded(filled, kind)}
    params = {"sort": "amount", "amount_min": "1"}
    screen = all_screen_keys(browse, f"/{slug}/", params)
    response = browse.get(f"/{slug}/export.xlsx", params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert f"{slug}_amount_min-1_sort" in response["Content-Disposition"]
    rows = _xlsx(response)
    header = rows[0]
    amount = header.index("Amount")
    assert [str(row[0]) for row in rows[1:]] == screen
    for row in rows[1:]:
        assert isinstance(row[amount], Decimal)  # a number cell, not text
        assert row[amount] == pytest.approx(_amount(records[str(row[0])]))
    assert filled.requests_log == []


def test_exports_defuse_spreadsheet_formulas(browse, sandbox, fill_copy):
    refund = seeded(sandbox, KINDS["refunds"])[0]
    refund["memo"] = '=HYPERLINK("http://evil")'
    sandbox.store.save("customer-refunds", refund)
    fill_copy()
    params = {"q": str(refund["number"])}
    rows = _csv(browse.get("/refunds/export.csv", params))
    memo = rows[0].index("Memo")
    assert [row[memo] for row in rows[1:] if row[0] == str(refund["number"])] == [
        '\'=HYPERLINK("http://evil")'
    ]
    sheet = _xlsx(browse.get("/refunds/export.xlsx", params))
    memo = sheet[0].index("Memo")
    assert [row[memo] for row in sheet[1:] if str(row[0]) == str(refund["number"])] == [
        '\'=HYPERLINK("http://evil")'
    ]


def test_export_keeps_amounts_exact_with_their_currency(browse, sandbox):
    record = seeded(sandbox, KINDS["refunds"])[0]
    rows = _csv(browse.get("/refunds/export.csv", {"q": record["number"]}))
    header = rows[0]
    (row,) = [row for row in rows[1:] if row[0] == str(record["number"])]
    assert Decimal(row[header.index("Amount")]) == _amount(record)
    assert row[header.index("Amount currency")] == record["currency_iso_4217_code"]


# --- no upstream calls -----------------------------------------------------------------------


@pytest.mark.parametrize("slug", KIND_PARAMS)
def test_lists_searches_and_exports_never_call_dualentry(browse, filled, slug):
    browse.get(f"/{slug}/")
    browse.get(f"/{slug}/", {"q": "a", "sort": "-amount", "status": "posted", "limit": "100"})
    browse.get(f"/{slug}/", {"q": "1,000.00"}, headers={"HX-Request": "true"})
    b"".join(browse.get(f"/{slug}/export.csv").streaming_content)
    b"".join(browse.get(f"/{slug}/export.xlsx").streaming_content)
    assert filled.requests_log == []


# --- global search ---------------------------------------------------------------------------


def test_global_search_groups_matches_by_kind_with_the_lists_counts(browse, filled):
    record = seeded(filled, KINDS["refunds"])[0]
    query = record["customer_name"]
    response = browse.get("/search/", {"q": query})
    assert response.status_code == 200
    groups = {group["kind"].slug: group for group in response.context["groups"]}
    assert set(groups) == set(KINDS)
    for slug, group in groups.items():
        assert group["count"] == len(all_screen_keys(browse, f"/{slug}/", {"q": query}))
        assert len(group["rows"]) == min(5, group["count"])
    assert str(record["number"]) in [row.key for row in groups["refunds"]["rows"]] or (
        groups["refunds"]["count"] > 5
    )
    fragment = browse.get("/search/", {"q": query}, headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert "<html" not in html and 'class="search-hit"' in html
    assert filled.requests_log == []


def test_global_search_by_amount_and_bad_input(browse, filled):
    record = _big_record(filled)
    html = browse.get("/search/", {"q": f"{_amount(record):,.2f}"}).content.decode()
    assert f'href="/refunds/{record["number"]}/"' in html
    response = browse.get("/search/", {"q": "x" * 5000})
    assert response.status_code == 200
    assert "at most 200 characters" in response.content.decode()
    assert filled.requests_log == []


def test_header_has_the_global_search_focusable_with_slash(browse):
    html = browse.get("/refunds/").content.decode()
    assert 'id="global-search"' in html and 'aria-keyshortcuts="/"' in html
