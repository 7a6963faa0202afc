"""Each person sees times in their own zone, with the zone named; the browser's zone is taken
on first log-in unless they chose one; the audit CSV stays in UTC; dates are typed as ISO."""

import csv
import datetime as dt
import io
import zoneinfo

import pytest
from django.utils import timezone

from portal.audit import actions
from portal.audit.forms import AuditFilterForm
from portal.audit.services import audit_record
from portal.models import UserProfile
from portal.records.filters import FastDateInput
from portal.records.forms.fields import ApiDateField
from portal.services import profile_time_zone_set
from portal.timezones import format_local

pytestmark = pytest.mark.django_db


def _event(actor):
    return audit_record(actor=actor, action=actions.LOGIN, summary="Logged in")


def test_times_show_in_the_persons_zone_with_the_zone_named(login_as, viewer, preparer):
    event = _event(preparer)
    profile_time_zone_set(user=viewer, time_zone="America/New_York", chosen=True)
    html = login_as(viewer).get("/audit/").content.decode()
    local = event.occurred_at.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    shown = local.strftime("%Y-%m-%d %H:%M:%S ") + local.strftime("%Z")  # EST or EDT
    assert shown in html
    utc = event.occurred_at.astimezone(dt.UTC).isoformat(timespec="seconds")
    assert f'datetime="{utc.replace("+00:00", "Z")}"' in html
    assert 'title="America/New_York"' in html
    assert "Times in America/New_York" in html  # the footer says which zone


def test_without_a_zone_times_use_time_zone_and_the_browser_is_asked_once(
    login_as, viewer, settings
):
    settings.TIME_ZONE = "Europe/Berlin"
    html = login_as(viewer).get("/").content.decode()
    assert 'id="time-zone-guess"' in html
    assert "Times in Europe/Berlin" in html

    profile_time_zone_set(user=viewer, time_zone="Asia/Tokyo", chosen=False)
    html = login_as(viewer).get("/").content.decode()
    assert 'id="time-zone-guess"' not in html
    assert "Times in Asia/Tokyo" in html


def test_browser_guess_fills_an_empty_profile_but_never_replaces_a_choice(login_as, viewer):
    client = login_as(viewer)
    assert client.post("/profile/time-zone/guess/", {"time_zone": "Asia/Tokyo"}).status_code == 204
    assert UserProfile.objects.get(user=viewer).time_zone == "Asia/Tokyo"

    response = client.post("/profile/", {"time_zone": "Europe/Lisbon"})
    assert response.status_code == 302
    client.post("/profile/time-zone/guess/", {"time_zone": "Asia/Tokyo"})
    profile = UserProfile.objects.get(user=viewer)
    assert (profile.time_zone, profile.time_zone_chosen) == ("Europe/Lisbon", True)


def test_an_unknown_zone_is_refused(login_as, viewer):
    client = login_as(viewer)
    assert (
        client.post("/profile/time-zone/guess/", {"time_zone": "Mars/Olympus"}).status_code == 400
    )
    response = client.post("/profile/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 422
    assert "choose one from the list" in response.content.decode()
    assert not UserProfile.objects.filter(user=viewer).exclude(time_zone="").exists()


def test_profile_page_is_linked_from_the_header_and_shows_the_current_zone(login_as, viewer):
    profile_time_zone_set(user=viewer, time_zone="Europe/Lisbon", chosen=True)
    client = login_as(viewer)
    assert 'href="/profile/"' in client.get("/").content.decode()
    html = client.get("/profile/").content.decode()
    assert '<option value="Europe/Lisbon" selected>' in html


def test_audit_csv_stays_in_utc_iso_8601(login_as, viewer, preparer):
    event = _event(preparer)
    profile_time_zone_set(user=viewer, time_zone="Asia/Tokyo", chosen=True)
    export = login_as(viewer).get("/audit/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0]["time_utc"] == event.occurred_at.astimezone(dt.UTC).isoformat()
    assert rows[0]["time_utc"].endswith("+00:00")


def test_format_local_names_zones_without_letters_by_offset():
    moment = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    with timezone.override(zoneinfo.ZoneInfo("Asia/Dubai")):
        assert format_local(moment) == "2026-11-30 16:00 UTC+04"
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        assert format_local(moment, seconds=True) == "2026-11-30 13:00:00 CET"


@pytest.mark.parametrize(
    "html",
    [
        lambda: FastDateInput().render("start_date", dt.date(2026, 11, 30)),
        lambda: str(AuditFilterForm()["date_from"]),
        lambda: ApiDateField(label="Posting date").widget.render("date", dt.date(2026, 11, 30)),
    ],
    ids=["list filters", "audit filters", "record forms"],
)
def test_date_inputs_are_typed_as_iso_text_not_a_locale_date_picker(html):
    rendered = html()
    assert 'type="text"' in rendered
    assert 'placeholder="YYYY-MM-DD"' in rendered
    assert 'pattern="\\d{4}-\\d{2}-\\d{2}"' in rendered
    assert 'type="date"' not in rendered


def test_filters_refuse_month_first_dates(login_as, viewer):
    form = AuditFilterForm({"date_from": "11/30/2026"})
    assert not form.is_valid()
    assert AuditFilterForm({"date_from": "2026-11-30"}).is_valid()


def test_log_in_form_carries_the_browsers_zone_into_an_empty_profile(client, viewer):
    assert 'name="time_zone"' in client.get("/accounts/login/").content.decode()
    client.post(
        "/accounts/login/", {"username": "viewer", "password": "demo", "time_zone": "Asia/Tokyo"}
    )
    assert UserProfile.objects.get(user=viewer).time_zone == "Asia/Tokyo"
    client.post("/accounts/logout/")
    profile_time_zone_set(user=viewer, time_zone="Europe/Lisbon", chosen=True)
    client.post(
        "/accounts/login/", {"username": "viewer", "password": "demo", "time_zone": "Asia/Tokyo"}
    )
    assert UserProfile.objects.get(user=viewer).time_zone == "Europe/Lisbon"
