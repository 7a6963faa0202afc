"""HTTPS and security headers: `check --deploy` is clean with production settings, and the
headers are what the settings promise."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

REPO = Path(__file__).resolve().parents[2]
# Variables the test run sets for itself; production runs without them.
_OURS = ("DJANGO_", "DUALENTRY_", "OIDC_", "AXES_", "SESSION_", "LOCAL_LOGIN")


def _production_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(_OURS)}
    env.update(
        DJANGO_DEBUG="off",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="portal.example.com",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://portal.example.com",
        DJANGO_STATIC_MANIFEST="off",
        DUALENTRY_API_URL="https://api.dualentry.com",
        DUALENTRY_API_KEY="production-key-from-the-vault",
    )
    return env


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=_production_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_switch_every_protection_on():
    script = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_SECONDS, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src'])"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=REPO,
        env=_production_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == (
        "True ('HTTP_X_FORWARDED_PROTO', 'https') 31536000 True True [\"'self'\"]"
    )


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy():
    response = Client().get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_and_https_gets_hsts(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    client = Client()
    redirect = client.get("/accounts/login/")
    assert redirect.status_code == 301
    assert redirect["Location"] == "https://testserver/accounts/login/"

    behind_proxy = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy.status_code == 200
    assert behind_proxy["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )


def test_no_template_has_inline_script_or_style():
    offenders = []
    for template in (REPO / "templates").rglob("*.html"):
        text = template.read_text()
        for marker in ("<script>", "<style", "style=", "onclick=", "onchange=", "hx-on"):
            if marker in text:
                offenders.append(f"{template.relative_to(REPO)}: {marker}")
        for line in text.splitlines():
            if "<script" in line and "src=" not in line:
                offenders.append(f"{template.relative_to(REPO)}: inline <script>")
    assert offenders == []
