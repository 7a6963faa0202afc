"""Gunicorn settings for the portal (`gunicorn portal.wsgi --config gunicorn.conf.py`).

Every value can be overridden from the environment, so one file serves the Procfile, the
systemd units and the tests:

- `GUNICORN_BIND` (default `127.0.0.1:$PORT`, PORT default 8000): nginx is in front.
- `WEB_CONCURRENCY`: worker processes (default 2 x CPU cores + 1, at most 8). Sync workers:
  a page spends its time in the database and in DualEntry's budget, not in Python.
- `GUNICORN_TIMEOUT` (60 s): a worker silent for longer is killed and replaced. Above the
  longest legitimate request: a write waits up to DUALENTRY_WRITE_MAX_WAIT (10 s) for budget
  plus DualEntry's read timeout (30 s).
- `GUNICORN_GRACEFUL_TIMEOUT` (30 s): on SIGTERM or a reload, workers finish what they serve.
- `GUNICORN_ACCESS_LOG` (`-`: stdout) / `GUNICORN_ERROR_LOG` (`-`: stderr).
- `PORTAL_INSTANCE`: a name for this instance in its access log lines (default host:port).

Graceful reload: `kill -HUP <master pid>` (systemd: `systemctl reload portal-web@8001`) starts
new workers with the new code and lets the old ones finish their requests. `preload_app` stays
off so that a reload re-imports the code.

With `PROMETHEUS_MULTIPROC_DIR` set, workers write their metrics there and `/metrics` sums
them; the directory is emptied when the master starts and a dead worker's files are marked.
"""

import multiprocessing
import os
import shutil
import socket

_port = os.environ.get("PORT", "8000")
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{_port}")
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# nginx keeps upstream connections open (keepalive in deploy/nginx/portal.conf).
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound; jitter keeps them
# from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
preload_app = False
proc_name = "portal-web"
# Heartbeat files in memory: a worker blocked on a slow disk is not mistaken for a hung one.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

instance = os.environ.get("PORTAL_INSTANCE", f"{socket.gethostname()}:{_port}")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# One JSON object per request: the request id is the one nginx assigned (X-Request-ID), which
# the portal echoes in its response and puts on its own log lines.
access_log_format = (
    '{"time": "%(t)s", "instance": "' + instance + '", "remote": "%({x-forwarded-for}i)s", '
    '"method": "%(m)s", "path": "%(U)s", "status": %(s)s, "bytes": "%(B)s", '
    '"duration_ms": %(M)s, "request_id": "%({x-request-id}o)s", "user_agent": "%(a)s"}'
)
# Trust X-Forwarded-Proto from nginx on this host only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
