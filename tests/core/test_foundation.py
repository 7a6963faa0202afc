import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

REPO = Path(__file__).resolve().parents[2]


def _django_check(env_overrides: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DUALENTRY_"))}
    env.update({k: v for k, v in env_overrides.items() if v is not None})
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_missing_secret_key_when_debug_is_off():
    result = _django_check({"DJANGO_DEBUG": "off"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_settings_accept_a_secret_key_when_debug_is_off():
    result = _django_check(
        {"DJANGO_DEBUG": "off", "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "portal"}
    )
    assert result.returncode == 0, result.stderr


def test_settings_generate_a_dev_key_in_debug():
    result = _django_check({"DJANGO_DEBUG": "on"})
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_login_page_is_public(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Log in" in response.content


@pytest.mark.django_db
def test_health_is_public_and_reports_each_part(client, settings):
    settings.DUALENTRY_API_URL = ""
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["portal"] == "ok"
    assert body["database"] == "ok"
    assert body["dualentry"] == "not configured"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/"])
def test_anonymous_users_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code in (302, 405)
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_the_admin_log_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only runs with DJANGO_DEBUG=on"):
        call_command("seed_demo")


@pytest.mark.django_db
def test_seed_demo_creates_demo_users_idempotently(settings, django_user_model):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    users = {u.username: u for u in django_user_model.objects.all()}
    assert set(users) == {"viewer", "preparer", "approver", "approver2", "admin"}
    assert users["admin"].is_superuser
    assert users["preparer"].has_perm("portal.prepare_records")
    assert not users["preparer"].has_perm("portal.approve_records")
    assert users["approver2"].has_perm("portal.approve_records")
    assert users["viewer"].check_password("demo")


@pytest.mark.django_db
def test_dashboard_shows_name_role_and_navigation(login_as, preparer):
    response = login_as(preparer).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Priya Preparer" in html
    assert "Preparer" in html
    assert 'hx-headers=\'{"X-CSRFToken":' in html
    assert "htmx" in html  # served from our own static files
    assert "https://" not in html.split("<body")[0]  # no CDN in the head


@pytest.mark.django_db
def test_unknown_page_is_a_404_in_the_portal_layout(login_as, viewer):
    response = login_as(viewer).get("/no-such-page/")
    assert response.status_code == 404
    assert b"Not found" in response.content
    assert b"site-nav" in response.content


@pytest.mark.django_db
def test_health_reports_dualentry_and_shares_the_answer_briefly(client, sandbox_settings):
    assert client.get("/health/").json()["dualentry"] == "ok"
    assert client.get("/health/").json()["dualentry"] == "ok"
    assert sandbox_settings.request_count("/public/v2/health/") == 1


@pytest.mark.django_db
def test_health_says_what_is_wrong_with_dualentry(client, sandbox_settings):
    sandbox_settings.set_faults(status_for_path={"/public/v2/health/": 401})
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["portal"] == "ok"
    assert body["dualentry"] != "ok"
    assert "sandbox-key" not in body["dualentry"]
