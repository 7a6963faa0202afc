"""The dashboard's figures, from the read model: database reads only, never an upstream call.

Each figure carries the URL of the list filtered to exactly its rows, so a number on the
dashboard is one click from the records behind it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from portal.readmodel.models import MirroredRecord
from portal.readmodel.selectors import mirrored_records
from portal.records.kinds import KINDS, RecordKind
from portal.records.listing import (
    DRAFT_STATUS,
    awaiting_approval_condition,
    base_queryset,
    prepared_by_condition,
)

POSTED = "posted"
CHART_DAYS = 90
# Kinds whose records are posted (contracts are active, completed, ...: not money movements).
POSTING_KINDS = tuple(kind for kind in KINDS.values() if kind.status_field == "record_status")


def list_url(kind: RecordKind | None, **params: Any) -> str:
    """The list (or the drafts queue when `kind` is None) filtered by `params`."""
    if kind is None:
        path = reverse("records:drafts")
    else:
        path = reverse("records:list", kwargs={"kind": kind.slug})
    shown = {name: value for name, value in params.items() if value not in (None, "")}
    return f"{path}?{urlencode(shown, doseq=True)}" if shown else path


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _previous_month_start(day: dt.date) -> dt.date:
    first = _month_start(day)
    return _month_start(first - dt.timedelta(days=1))


def _month_end(start: dt.date) -> dt.date:
    following = _month_start(start + dt.timedelta(days=32))
    return following - dt.timedelta(days=1)


# --- drafts waiting for me -------------------------------------------------------------------


@dataclass(frozen=True)
class MyDrafts:
    rows: list[MirroredRecord]
    count: int
    url: str


def my_drafts(*, user: Any, limit: int = 10) -> MyDrafts:
    """Drafts this person prepared through the portal that are not waiting for approval."""
    kinds = list(KINDS.values())
    slugs = [kind.slug for kind in kinds]
    queryset = (
        base_queryset(kinds)
        .filter(status=DRAFT_STATUS)
        .filter(prepared_by_condition(user, slugs))
        .exclude(awaiting_approval_condition(slugs))
        .order_by("-changed_at")
    )
    rows = list(queryset[:limit])
    count = len(rows) if len(rows) < limit else queryset.count()
    return MyDrafts(rows, count, list_url(None, mine="yes"))


# --- recently posted, largest open credits ---------------------------------------------------


@dataclass(frozen=True)
class RecordFigure:
    row: MirroredRecord
    url: str  # the record's page

    @property
    def kind(self) -> RecordKind:
        return KINDS[self.row.kind]


def recently_posted(*, limit: int = 10) -> list[RecordFigure]:
    """The latest posted records of every kind (per kind, each an index scan, then merged)."""
    rows = [
        row
        for kind in POSTING_KINDS
        for row in mirrored_records(kind=kind.slug)
        .filter(status=POSTED)
        .order_by("-date", "-pk")[:limit]
    ]
    rows.sort(key=lambda row: (row.date or dt.date.min, row.pk), reverse=True)
    return [
        RecordFigure(row, reverse("records:detail", kwargs={"kind": row.kind, "key": row.key}))
        for row in rows[:limit]
    ]


def largest_open_credits(*, limit: int = 10) -> tuple[list[RecordFigure], str]:
    """The ten credits with most left to apply, and the list of all open credits by size."""
    credits = KINDS["credits"]
    rows = (
        mirrored_records(kind=credits.slug)
        .filter(status=POSTED, remaining__gt=0)
        .order_by("-remaining", "-pk")[:limit]
    )
    figures = [
        RecordFigure(row, reverse("records:detail", kwargs={"kind": row.kind, "key": row.key}))
        for row in rows
    ]
    return figures, list_url(credits, status=POSTED, open="yes", sort="-remaining")


# --- this month vs last month ----------------------------------------------------------------


@dataclass(frozen=True)
class MonthComparison:
    kind: RecordKind
    currency: str
    this_month: Decimal
    this_count: int
    last_month: Decimal
    last_count: int
    this_url: str
    last_url: str

    @property
    def change(self) -> Decimal | None:
        """This month against last month, in per cent (None when last month had nothing)."""
        if not self.last_month:
            return None
        return ((self.this_month - self.last_month) / self.last_month * 100).quantize(Decimal("1"))


def month_comparison(*, today: dt.date | None = None) -> list[MonthComparison]:
    """Posted refunds, deposits and credits this month and last month, per currency (one
    query)."""
    today = today or timezone.localdate()
    this_start, last_start = _month_start(today), _previous_month_start(today)
    last_end = this_start - dt.timedelta(days=1)
    this_period = Q(date__gte=this_start, date__lte=_month_end(this_start))
    last_period = Q(date__gte=last_start, date__lte=last_end)
    rows = (
        base_queryset(list(POSTING_KINDS))
        .filter(status=POSTED, date__gte=last_start, date__lte=_month_end(this_start))
        .order_by()
        .values("kind", "currency")
        .annotate(
            this_month=Sum("amount", filter=this_period),
            this_count=Count("id", filter=this_period),
            last_month=Sum("amount", filter=last_period),
            last_count=Count("id", filter=last_period),
        )
    )
    order = {kind.slug: index for index, kind in enumerate(POSTING_KINDS)}
    comparisons = []
    for row in sorted(rows, key=lambda row: (order[row["kind"]], row["currency"])):
        kind = KINDS[row["kind"]]
        common = {"status": POSTED, "currency": row["currency"]}
        comparisons.append(
            MonthComparison(
                kind=kind,
                currency=row["currency"],
                this_month=row["this_month"] or Decimal(0),
                this_count=row["this_count"],
                last_month=row["last_month"] or Decimal(0),
                last_count=row["last_count"],
                this_url=list_url(
                    kind, **common, date_from=this_start, date_to=_month_end(this_start)
                ),
                last_url=list_url(kind, **common, date_from=last_start, date_to=last_end),
            )
        )
    return comparisons


# --- the chart -------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 720, 180
CHART_LEFT, CHART_BOTTOM, CHART_TOP = 64, 24, 8


@dataclass(frozen=True)
class ChartPoint:
    day: dt.date
    amount: Decimal
    x: str  # SVG coordinates, formatted once here rather than by template filters
    y: str
    url: str  # the list of that day's rows ("" for a day without postings: not a link)


@dataclass(frozen=True)
class ChartSeries:
    kind: RecordKind
    css_class: str
    points: list[ChartPoint]
    total: Decimal
    url: str  # the list of the whole period

    @property
    def polyline(self) -> str:
        return " ".join(f"{point.x},{point.y}" for point in self.points)

    @property
    def marked(self) -> list[ChartPoint]:
        """The days with posted records (each one a link)."""
        return [point for point in self.points if point.amount]


@dataclass(frozen=True)
class Chart:
    currency: str
    currencies: list[str]
    start: dt.date
    end: dt.date
    series: list[ChartSeries]
    peak: Decimal
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    ticks: list[tuple[str, str]] = field(default_factory=list)  # (y, label)
    day_ticks: list[tuple[str, str]] = field(default_factory=list)  # (x, label)

    @property
    def plot_left(self) -> int:
        return CHART_LEFT

    @property
    def plot_bottom(self) -> int:
        return self.height - CHART_BOTTOM

    @property
    def empty(self) -> bool:
        return not self.peak


def posted_chart(
    *, currency: str = "", today: dt.date | None = None, days: int = CHART_DAYS
) -> Chart:
    """Daily posted amounts per kind over the last `days` days, in one currency (amounts in
    different currencies do not add up): `currency` if it has postings, else the busiest."""
    today = today or timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    posted = base_queryset(list(POSTING_KINDS)).filter(
        status=POSTED, date__gte=start, date__lte=today
    )
    by_currency = list(
        posted.order_by()
        .values("currency")
        .annotate(count=Count("id"))
        .order_by("-count", "currency")
        .values_list("currency", flat=True)
    )
    currency = currency if currency in by_currency else (by_currency[0] if by_currency else "")
    sums: dict[str, dict[dt.date, Decimal]] = defaultdict(dict)
    for row in (
        posted.filter(currency=currency)
        .order_by()
        .values("kind", "date")
        .annotate(total=Sum("amount"))
    ):
        sums[row["kind"]][row["date"]] = row["total"] or Decimal(0)
    peak = max((amount for daily in sums.values() for amount in daily.values()), default=0)
    peak = Decimal(peak)
    plot_width = CHART_WIDTH - CHART_LEFT - 8
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    step = plot_width / max(days - 1, 1)

    def y_of(amount: Decimal) -> float:
        if not peak:
            return CHART_HEIGHT - CHART_BOTTOM
        return CHART_HEIGHT - CHART_BOTTOM - float(amount / peak) * plot_height

    series = []
    for index, kind in enumerate(POSTING_KINDS):
        daily = sums.get(kind.slug, {})
        points = []
        day_url = list_url(kind, status=POSTED, currency=currency) + "&date_from={0}&date_to={0}"
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            amount = daily.get(day, Decimal(0))
            url = day_url.format(day.isoformat()) if amount else ""
            x, y = f"{CHART_LEFT + offset * step:.1f}", f"{y_of(amount):.1f}"
            points.append(ChartPoint(day, amount, x, y, url))
        series.append(
            ChartSeries(
                kind=kind,
                css_class=f"chart-series-{index + 1}",
                points=points,
                total=sum(daily.values(), Decimal(0)),
                url=list_url(
                    kind, status=POSTED, currency=currency, date_from=start, date_to=today
                ),
            )
        )
    shares = (Decimal(0), Decimal("0.5"), Decimal(1)) if peak else ()
    ticks = [(f"{y_of(peak * share):.1f}", f"{peak * share:,.0f}") for share in shares]
    day_ticks = [
        (f"{CHART_LEFT + offset * step:.1f}", (start + dt.timedelta(days=offset)).strftime("%b %d"))
        for offset in range(0, days, 30)
    ]
    return Chart(
        currency=currency,
        currencies=by_currency,
        start=start,
        end=today,
        series=series,
        peak=peak,
        ticks=ticks,
        day_ticks=day_ticks,
    )
