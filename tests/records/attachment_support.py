"""Helpers for streaming big uploads in tests and in `tests/bench/bench_upload.py`.

- `sandbox_process()`: the sandbox in its own process (`manage.py run_sandbox`), so measuring
  the portal's memory does not also measure the server receiving the file;
- `write_pdf()` and `write_multipart_body()`: big request bodies built on disk, never in memory;
- `post_streamed()`: send such a body through the whole Django stack (middleware, CSRF,
  sessions, the upload view) with `wsgi.input` reading the file, the way a WSGI server would;
- `open_files_under()`: the files this process still holds open in a folder (an upload's
  temporary file must be closed, so its disk space is freed).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
SANDBOX_KEY = "sandbox-key"


def open_files_under(directory: Path) -> list[str]:
    """Paths of this process's open file descriptors inside `directory` (Linux /proc)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def sandbox_process(directory: Path, *, timeout: float = 60.0) -> Iterator[str]:
    """Run `manage.py run_sandbox` on a free port with its state in `directory`; yield its URL."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "sandbox"}
    log = (directory / "sandbox.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "run_sandbox",
            "--port",
            str(port),
            "--state-file",
            str(directory / "state.json"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"The sandbox exited with {process.returncode}: "
                    f"{(directory / 'sandbox.log').read_text(errors='replace')[-2000:]}"
                )
            try:
                answer = requests.get(
                    f"{url}/public/v2/health/", headers={"X-API-KEY": SANDBOX_KEY}, timeout=2
                )
                if answer.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"The sandbox did not answer on {url} within {timeout} s.")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def write_pdf(path: Path, size: int) -> str:
    """A valid PDF of exactly `size` bytes written in 1 MB pieces; returns its SHA-256."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    line = b"%" + bytes(range(48, 48 + 78)) + b"\n"  # PDF comment lines: 80 bytes each
    block = line * (MB // len(line))
    # The xref table points at object 1 right after the header line; the trailer's startxref
    # holds the xref's offset, padded to a fixed width so the size stays exact.
    xref_at = size - 160
    tail = (
        b"xref\n0 2\n0000000000 65535 f \n0000000015 00000 n \n"
        b"trailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n%020d\n%%%%EOF\n" % xref_at
    )
    tail = tail.ljust(160, b"\n")
    digest = hashlib.sha256()
    with path.open("wb") as out:
        remaining = size - len(head) - len(tail)
        out.write(head)
        digest.update(head)
        while remaining > 0:
            piece = block[:remaining]
            out.write(piece)
            digest.update(piece)
            remaining -= len(piece)
        out.write(tail)
        digest.update(tail)
    return digest.hexdigest()


def write_multipart_body(
    path: Path, *, fields: dict[str, str], files: list[tuple[str, Path, str]]
) -> tuple[str, int]:
    """Write a multipart/form-data body (fields, then `files` parts from disk) to `path`.

    Returns (Content-Type header value, body length)."""
    boundary = f"bench-{uuid.uuid4().hex}"
    with path.open("wb") as out:
        for name, value in fields.items():
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        for file_name, source, content_type in files:
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{file_name}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            )
            with source.open("rb") as content:
                while chunk := content.read(MB):
                    out.write(chunk)
            out.write(b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", path.stat().st_size


def post_streamed(*, cookies, path: str, body: Path, content_type: str, htmx: bool = True):
    """POST a body file through Django's full stack as a WSGI server would; the response.

    `cookies` are a test Client's cookies (log in with `client.force_login(user)` first).
    CSRF is not enforced, as with Django's test Client; everything else runs for real.
    """
    from django.test.client import ClientHandler

    cookie_header = "; ".join(
        sorted(f"{morsel.key}={morsel.coded_value}" for morsel in cookies.values())
    )
    with body.open("rb") as stream:
        environ = {
            "HTTP_COOKIE": cookie_header,
            "PATH_INFO": path,
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(body.stat().st_size),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": stream,
            "wsgi.errors": sys.stderr,
            "wsgi.multiprocess": True,
            "wsgi.multithread": False,
            "wsgi.run_once": False,
        }
        if htmx:
            environ["HTTP_HX_REQUEST"] = "true"
        # ClientHandler closes the response (and so the request's files) like a server does.
        return ClientHandler(enforce_csrf_checks=False)(environ)
