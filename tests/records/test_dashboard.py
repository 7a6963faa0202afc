"""The dashboard from the read model: each figure, the list it links to holds exactly its rows,
and no upstream call."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from portal.audit import actions
from portal.audit.services import audit_record
from portal.records import dashboard
from portal.records.kinds import KINDS
from tests.records.browse_support import seeded
from tests.records.test_views_browse_lists import _shown_totals, all_screen_keys

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("persona", ["viewer", "preparer", "approver", "admin_user"])
def test_dashboard_answers_from_the_copy_for_every_role(request, filled, login_as, persona):
    user = request.getfixturevalue(persona)
    response = login_as(user).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for title in ("Drafts waiting for me", "Posted per day", "Largest open credits"):
        assert title in html
    assert "<svg" in html and "style=" not in html.split("<main")[1]  # CSP: no inline styles
    assert filled.requests_log == []


def test_dashboard_keeps_answering_when_dualentry_is_down(filled, login_as, preparer):
    filled.set_faults(status_for_path={"/public/v2/": 500})
    assert login_as(preparer).get("/").status_code == 200
    assert filled.requests_log == []


def test_my_drafts_are_the_drafts_i_saved_and_link_to_exactly_them(
    filled, login_as, preparer, approver
):
    kind = KINDS["refunds"]
    mine, theirs = seeded(filled, kind, record_status="draft")[:2]
    posted = seeded(filled, kind, record_status="posted")[0]
    for record, person in ((mine, preparer), (theirs, approver), (posted, preparer)):
        audit_record(
            actor=person, action=actions.RECORD_CREATED, kind="refunds", key=str(record["number"])
        )
    client = login_as(preparer)
    response = client.get("/")
    figure = response.context["my_drafts"]
    assert [row.key for row in figure.rows] == [str(mine["number"])]
    assert figure.count == 1
    assert f'href="/refunds/{mine["number"]}/"' in response.content.decode()
    assert all_screen_keys(client, "/drafts/", {"mine": "yes"}) == [str(mine["number"])]


def test_month_figures_link_to_lists_with_the_same_totals(filled, login_as, viewer):
    posted = seeded(filled, KINDS["deposits"], record_status="posted")
    today = dt.date.fromisoformat(max(record["date"] for record in posted))
    comparisons = dashboard.month_comparison(today=today)
    assert comparisons
    client = login_as(viewer)
    for figure in comparisons:
        start = today.replace(day=1)
        expected = sum(
            (
                Decimal(str(r["amount"]))
                for r in seeded(filled, figure.kind, record_status="posted")
                if r["currency_iso_4217_code"] == figure.currency
                and dt.date.fromisoformat(r["date"]).replace(day=1) == start
            ),
            Decimal(0),
        )
        assert figure.this_month == expected
        if figure.this_count:
            html = client.get(figure.this_url).content.decode()
            assert _shown_totals(html)[figure.currency] == (figure.this_count, figure.this_month)
        if figure.last_count:
            html = client.get(figure.last_url).content.decode()
            assert _shown_totals(html)[figure.currency] == (figure.last_count, figure.last_month)
    assert filled.requests_log == []


def test_largest_open_credits_are_the_first_rows_of_their_list(filled, login_as, viewer):
    figures, url = dashboard.largest_open_credits()
    credits = [r for r in seeded(filled, KINDS["credits"], record_status="posted")
               if Decimal(str(r["remaining_amount"])) > 0]  # fmt: skip
    expected = sorted(credits, key=lambda r: Decimal(str(r["remaining_amount"])), reverse=True)
    assert [figure.row.remaining for figure in figures] == [
        Decimal(str(r["remaining_amount"])) for r in expected[:10]
    ]
    html = login_as(viewer).get(url).content.decode()
    keys = re.findall(r'<th scope="row"><a href="/credits/(\d+)/">', html)
    assert keys[: len(figures)] == [figure.row.key for figure in figures]


def test_chart_totals_match_the_lists_they_link_to(filled, login_as, viewer):
    posted = seeded(filled, KINDS["refunds"], record_status="posted")
    today = dt.date.fromisoformat(max(record["date"] for record in posted))
    chart = dashboard.posted_chart(today=today)
    assert not chart.empty
    client = login_as(viewer)
    for series in chart.series:
        assert len(series.points) == dashboard.CHART_DAYS
        if series.total:
            html = client.get(series.url).content.decode()
            assert _shown_totals(html)[chart.currency][1] == series.total
        for point in series.marked[:2]:
            html = client.get(point.url).content.decode()
            assert _shown_totals(html)[chart.currency][1] == point.amount
    assert filled.requests_log == []
