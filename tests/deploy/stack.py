"""Run the portal the way it is deployed: the repo's Procfile, gunicorn.conf.py and nginx site.

`Stack` starts, in a temporary directory, a sandbox DualEntry (`run_sandbox`, its rate limits
on), the Procfile's `release` line against a fresh PostgreSQL database, one or more `web`
instances (gunicorn, each with its own port and access log), optionally the `worker`, and
Debian's nginx as our own process (`-c` a generated main configuration that includes
`deploy/nginx/portal.conf` with its ports and paths substituted, `daemon off`, pid and logs
in the temporary directory). The multi-process test and the team benchmark both use it.
Not a test module.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"
SITE_CONFIG = ROOT / "deploy" / "nginx" / "portal.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SANDBOX_KEY = "sandbox-key"
OUTSIDE_KEY = "dualentry-app"


def worker_command_available() -> bool:
    """Whether some app provides `manage.py run_worker` (the read model's task worker)."""
    return any(ROOT.glob("portal/**/management/commands/run_worker.py"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile_commands(path: Path = PROCFILE) -> dict[str, str]:
    """The Procfile's process types and their command lines."""
    commands = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            commands[name.strip()] = command.strip()
    return commands


def render_site_config(
    site_text: str, *, listen_port: int, web_ports: Iterable[int], static_root: Path
) -> str:
    """The repo's nginx site with our ports and static directory in place of the examples."""
    servers = "".join(
        f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in web_ports
    )
    text, upstreams = re.subn(
        r"(upstream portal_web \{\n(?:\s*#[^\n]*\n)*)(?:\s*server [^\n]*\n)+",
        lambda match: match.group(1) + servers,
        site_text,
    )
    text, listens = re.subn(
        r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{listen_port};", text, count=1, flags=re.M
    )
    text, aliases = re.subn(r"alias /srv/portal/staticfiles/;", f"alias {static_root}/;", text)
    if (upstreams, listens, aliases) != (1, 1, 1):
        raise ValueError("deploy/nginx/portal.conf no longer has the shape the tests substitute")
    return text


def render_main_config(workdir: Path, site_path: Path, *, worker_processes: int = 1) -> str:
    """A whole nginx.conf around the site: everything nginx writes lives in `workdir`."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {workdir / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes {worker_processes};\n"
        f"pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'nginx-error.log'} warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"    access_log {workdir / 'nginx-access.log'};\n"
        f"{temp}\n"
        f"    include {site_path};\n"
        "}\n"
    )


def wait_for_http(url: str, *, timeout: float = 60.0, process: subprocess.Popen | None = None):
    """Poll `url` until it answers (any status); raise if `process` dies or time runs out."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} while starting")
        try:
            return requests.get(url, timeout=2, allow_redirects=False)
        except requests.RequestException as err:
            last_error = err
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s: {last_error}")


def fresh_postgres_database(base_url: str, name: str) -> str:
    """Drop and create database `name` on `base_url`'s server; its URL."""
    import psycopg

    parts = urlsplit(base_url)
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "pgsql://"))


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@dataclass
class Stack:
    """The processes of one deployment; use as a context manager (stops everything on exit)."""

    workdir: Path
    database_url: str
    cache_url: str
    instances: int = 2
    web_workers: int = 2
    with_worker: bool = True
    records_per_kind: int | None = None
    nginx_worker_processes: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, init=False)
    web_ports: list[int] = field(default_factory=list, init=False)
    nginx_port: int = field(default=0, init=False)
    sandbox_url: str = field(default="", init=False)

    # -- environment -----------------------------------------------------------------------

    def environment(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        for name in [name for name in env if name.startswith(("DJANGO_", "DUALENTRY_"))]:
            del env[name]
        env.update(
            {
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                "DJANGO_SETTINGS_MODULE": "portal.settings",
                "DJANGO_DEBUG": "off",
                "DJANGO_SECRET_KEY": "multi-process-test-secret-key-not-for-production-0123456789",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                # nginx listens on plain HTTP here (its TLS block is commented out).
                "DJANGO_SECURE_COOKIES": "off",
                "DJANGO_SECURE_SSL_REDIRECT": "off",
                "DJANGO_STATIC_ROOT": str(self.workdir / "staticfiles"),
                "AUDIT_HMAC_KEY": "multi-process-test-audit-hmac-key-0123456789abcdef",
                "AUDIT_CHECKPOINT_PATH": str(self.workdir / "audit-checkpoints.jsonl"),
                "DATABASE_URL": self.database_url,
                "CACHE_URL": self.cache_url,
                "TRUSTED_PROXY_COUNT": "1",
                "DUALENTRY_API_URL": self.sandbox_url,
                "DUALENTRY_API_KEY": SANDBOX_KEY,
                "LOG_LEVEL": "WARNING",
                "LOG_FORMAT": "json",
                **self.extra_env,
                **overrides,
            }
        )
        return env

    def spawn(self, name: str, command: str, env: dict[str, str]) -> subprocess.Popen:
        with (self.workdir / f"{name}.log").open("ab") as output:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def manage(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.environment(**env),
            capture_output=True,
            text=True,
            check=check,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        commands = procfile_commands()
        self.start_sandbox()
        release = subprocess.run(
            ["bash", "-c", commands["release"]],
            cwd=ROOT,
            env=self.environment(),
            capture_output=True,
            text=True,
        )
        if release.returncode:
            raise RuntimeError(f"release failed:\n{release.stdout}\n{release.stderr}")
        self.manage("seed_demo", DJANGO_DEBUG="on")
        self.web_ports = [free_port() for _ in range(self.instances)]
        for number, port in enumerate(self.web_ports, start=1):
            self.start_web(number, port, commands["web"])
        for number, port in enumerate(self.web_ports, start=1):
            wait_for_http(
                f"http://127.0.0.1:{port}/health/", process=self.processes[f"web{number}"]
            )
        if self.with_worker and worker_command_available():
            self.start_worker()
        self.start_nginx()
        return self

    def start_sandbox(self) -> None:
        port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{port}"
        env = self.environment(
            DUALENTRY_SANDBOX_RATE_LIMITS="on",
            **(
                {"DUALENTRY_SANDBOX_RECORDS_PER_KIND": str(self.records_per_kind)}
                if self.records_per_kind
                else {}
            ),
        )
        process = self.spawn(
            "sandbox", f"{shlex.quote(sys.executable)} manage.py run_sandbox --port {port}", env
        )
        wait_for_http(f"{self.sandbox_url}/__sandbox__/faults", timeout=120, process=process)

    def start_web(self, number: int, port: int, command: str) -> None:
        env = self.environment(
            PORT=str(port),
            PORTAL_INSTANCE=f"web{number}",
            WEB_CONCURRENCY=str(self.web_workers),
            GUNICORN_ACCESS_LOG=str(self.access_log(number)),
            # As the systemd unit does: the instance's workers add up their metrics here.
            PROMETHEUS_MULTIPROC_DIR=str(self.workdir / f"metrics-web{number}"),
        )
        self.spawn(f"web{number}", command, env)

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        return self.spawn(name, procfile_commands()["worker"], self.environment())

    def start_nginx(self) -> None:
        self.nginx_port = free_port()
        site = render_site_config(
            SITE_CONFIG.read_text(),
            listen_port=self.nginx_port,
            web_ports=self.web_ports,
            static_root=self.workdir / "staticfiles",
        )
        site_path = self.workdir / "portal.conf"
        site_path.write_text(site)
        main_path = self.workdir / "nginx.conf"
        main_path.write_text(
            render_main_config(
                self.workdir, site_path, worker_processes=self.nginx_worker_processes
            )
        )
        command = f"{NGINX} -c {main_path} -p {self.workdir} -g 'daemon off;'"
        process = self.spawn("nginx", command, self.environment())
        wait_for_http(f"{self.url}/health/", process=process)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- what tests look at ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The portal through nginx."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def access_log(self, number: int) -> Path:
        return self.workdir / f"access-web{number}.log"

    def output(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def sandbox_requests(self, *, method: str | None = None, path_prefix: str = "") -> list[dict]:
        params = {"path_prefix": path_prefix} if path_prefix else {}
        if method:
            params["method"] = method
        answer = requests.get(f"{self.sandbox_url}/__sandbox__/requests", params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()["requests"]

    def clear_sandbox_log(self) -> None:
        requests.delete(f"{self.sandbox_url}/__sandbox__/requests", timeout=10).raise_for_status()


def log_in(base_url: str, username: str, password: str = "demo") -> requests.Session:
    """A browser-like session logged in through the login form (CSRF token included)."""
    session = requests.Session()
    page = session.get(f"{base_url}/accounts/login/", timeout=10)
    page.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        f"{base_url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base_url}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"log-in as {username} failed: HTTP {answer.status_code}")
    return session


def csrf_token(session: requests.Session) -> str:
    return session.cookies.get("csrftoken", "")


def max_in_window(times: list[float], window: float) -> int:
    """The most events that fall in any `window` seconds (sliding)."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] > window:
            start += 1
        most = max(most, end - start + 1)
    return most
