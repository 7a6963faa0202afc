"""The deployment files in the repo work: Procfile, gunicorn.conf.py, nginx site, systemd units."""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from portal.ops.health import check_migrations  # noqa: F401 (the portal imports cleanly)

from .stack import (
    NGINX,
    PROCFILE,
    ROOT,
    SITE_CONFIG,
    free_port,
    procfile_commands,
    render_main_config,
    render_site_config,
    wait_for_http,
)

SYSTEMD_DIR = ROOT / "deploy" / "systemd"
VENV_BIN = Path(sys.executable).parent


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE_URL", "CACHE_URL"))
    }
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DJANGO_DEBUG": "off",
            "DJANGO_SECRET_KEY": "deploy-files-test-secret-key-0123456789-abcdefghijklmnop",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
            "AUDIT_HMAC_KEY": "deploy-files-test-audit-hmac-key-0123456789abcdef",
            "AUDIT_CHECKPOINT_PATH": str(tmp_path / "checkpoints.jsonl"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "DUALENTRY_API_URL": "http://127.0.0.1:9",
            "DUALENTRY_API_KEY": "not-used",
            **extra,
        }
    )
    return env


def test_procfile_names_web_worker_and_release():
    commands = procfile_commands()
    assert set(commands) == {"web", "worker", "release"}
    assert commands["web"].startswith("gunicorn portal.wsgi --config gunicorn.conf.py")
    assert commands["worker"] == "python manage.py run_worker"
    release = commands["release"]
    assert [step.strip() for step in release.split("&&")] == [
        "python manage.py migrate --noinput",
        "python manage.py collectstatic --noinput",
        "python manage.py check --deploy",
    ]


def test_release_line_migrates_collects_and_checks_through_honcho(tmp_path):
    env_file = tmp_path / "portal.env"
    env_file.write_text("")
    result = subprocess.run(
        [str(VENV_BIN / "honcho"), "-f", str(PROCFILE), "-e", str(env_file), "run", "bash", "-c",
         procfile_commands()["release"]],
        cwd=ROOT, env=_production_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "db.sqlite3").stat().st_size > 0
    assert (tmp_path / "static" / "staticfiles.json").is_file()  # the hashed-names manifest
    assert "System check identified" in result.stdout + result.stderr


def test_honcho_check_accepts_the_procfile():
    result = subprocess.run(
        [str(VENV_BIN / "honcho"), "-f", str(PROCFILE), "check"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Valid procfile detected (release, web, worker)" in result.stderr + result.stdout


def test_honcho_start_web_serves_the_portal_with_the_request_id_in_the_access_log(tmp_path):
    env = _production_env(tmp_path, WEB_CONCURRENCY="1", GUNICORN_ACCESS_LOG="-")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    env_file = tmp_path / "portal.env"
    env_file.write_text("")
    log = tmp_path / "honcho.log"
    with log.open("wb") as output:
        honcho = subprocess.Popen(
            [str(VENV_BIN / "honcho"), "-f", str(PROCFILE), "-e", str(env_file), "start",
             "-p", str(port), "web"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health/", process=honcho, timeout=60)
            answer = requests.get(
                f"http://127.0.0.1:{port}/health/",
                headers={"X-Request-ID": "deploy-test-0001"},
                timeout=10,
            )
        finally:
            os.killpg(honcho.pid, signal.SIGTERM)
            honcho.wait(timeout=30)
    assert answer.status_code == 200
    assert answer.headers["X-Request-ID"] == "deploy-test-0001"
    assert '"request_id": "deploy-test-0001"' in log.read_text()


def _gunicorn_config(env: dict[str, str], *flags: str) -> dict[str, str]:
    """gunicorn's settings as it reads gunicorn.conf.py under `env` (`--print-config`)."""
    result = subprocess.run(
        [str(VENV_BIN / "gunicorn"), *flags, "--print-config", "--config", "gunicorn.conf.py",
         "portal.wsgi"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return {
        name.strip(): value.strip()
        for name, _, value in (line.partition("=") for line in result.stdout.splitlines())
    }


def test_gunicorn_config_passes_check_config_and_takes_workers_from_the_environment(tmp_path):
    printed = _gunicorn_config(
        _production_env(tmp_path, WEB_CONCURRENCY="3", PORT="8123"), "--check-config"
    )
    assert printed["workers"] == "3"
    assert printed["bind"] == "['127.0.0.1:8123']"
    assert printed["timeout"] == "60"
    assert printed["graceful_timeout"] == "30"
    assert printed["preload_app"] == "False"
    assert "{x-request-id}o" in printed["access_log_format"]


def test_gunicorn_workers_default_to_the_cpu_count(tmp_path):
    env = _production_env(tmp_path)
    env.pop("WEB_CONCURRENCY", None)
    assert _gunicorn_config(env)["workers"] == str(min(2 * os.cpu_count() + 1, 8))


def test_nginx_site_limits_uploads_like_the_portal_and_forwards_one_proxy_hop(settings):
    site = SITE_CONFIG.read_text()
    megabytes = settings.ATTACHMENT_MAX_REQUEST_SIZE // (1024 * 1024)
    assert f"client_max_body_size {megabytes}m;" in site
    # TRUSTED_PROXY_COUNT=1: nginx appends the one address the portal trusts.
    assert site.count("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") == 2
    assert "proxy_set_header X-Request-ID $request_id;" in site
    assert site.count("    server 127.0.0.1:") >= 2
    assert "# listen 443 ssl" in site


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (make nginx)")
def test_nginx_accepts_the_site_configuration_with_our_ports(tmp_path):
    site_path = tmp_path / "portal.conf"
    site_path.write_text(
        render_site_config(
            SITE_CONFIG.read_text(),
            listen_port=free_port(),
            web_ports=[free_port(), free_port()],
            static_root=tmp_path / "static",
        )
    )
    main = tmp_path / "nginx.conf"
    main.write_text(render_main_config(tmp_path, site_path))
    result = subprocess.run(
        [NGINX, "-t", "-c", str(main), "-p", str(tmp_path), "-g", "daemon off;"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def _units(tmp_path: Path) -> list[Path]:
    """The unit files with the deployment paths pointed at this checkout, named as installed."""
    units = []
    for source, name in (
        (SYSTEMD_DIR / "portal-web@.service", "portal-web@8001.service"),
        (SYSTEMD_DIR / "portal-worker.service", "portal-worker.service"),
    ):
        text = source.read_text().replace("/srv/portal/.venv/bin", str(VENV_BIN))
        target = tmp_path / name
        target.write_text(text.replace("/srv/portal", str(ROOT)))
        units.append(target)
    return units


def test_systemd_units_run_the_procfile_commands():
    commands = procfile_commands()
    for name, process in (("portal-web@.service", "web"), ("portal-worker.service", "worker")):
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str
        unit.read(SYSTEMD_DIR / name)
        exec_start = unit["Service"]["ExecStart"]
        program, _, arguments = commands[process].partition(" ")
        assert exec_start.startswith(f"/srv/portal/.venv/bin/{program} ")
        assert exec_start.endswith(
            arguments.replace("gunicorn.conf.py", "/srv/portal/gunicorn.conf.py")
        )
        assert unit["Service"]["EnvironmentFile"] == "/etc/portal/portal.env"
        assert unit["Install"]["WantedBy"] == "multi-user.target"
    web = configparser.ConfigParser(strict=False, interpolation=None)
    web.read(SYSTEMD_DIR / "portal-web@.service")
    assert web["Service"]["ExecReload"] == "/bin/kill -s HUP $MAINPID"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "verify", *map(str, _units(tmp_path))],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
