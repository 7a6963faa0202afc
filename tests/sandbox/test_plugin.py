"""The pytest plugin's fixtures point Django at the sandbox and start each test clean."""

import requests
from django.conf import settings as django_settings
from django.core.cache import cache


def test_sandbox_settings_points_django_at_the_sandbox(sandbox, sandbox_settings):
    assert sandbox_settings is sandbox
    assert sandbox.url == django_settings.DUALENTRY_API_URL
    assert django_settings.DUALENTRY_API_KEY == sandbox.api_key == "sandbox-key"
    assert sandbox.url.startswith("http://127.0.0.1:")


def test_sandbox_settings_clears_faults_log_and_cache(sandbox, settings, request):
    sandbox.set_faults(latency_ms=5)
    cache.set("reference:companies", ["stale"])
    requests.get(f"{sandbox.url}/public/v2/health/", timeout=5)
    assert sandbox.request_count() >= 1

    handle = request.getfixturevalue("sandbox_settings")

    assert handle.app.fault_state.faults.latency_ms == 0
    assert handle.request_count() == 0
    assert cache.get("reference:companies") is None
