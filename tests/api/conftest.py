"""A scripted local HTTP server for the client's failure-mode tests.

``api_server.script("GET", "/public/v2/customer-refunds/", Reply(502), Reply(200, json=...))``
queues answers for a path; the last one repeats. Every request received is recorded
(``api_server.count(...)``, ``api_server.requests``), so tests can prove how often the client
really sent something.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from dualentry_api.client import DualEntryClient

API_KEY = "test-secret-key-5f1c0d9e"
KEEP_BODY_LIMIT = 1024 * 1024


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (past the client's read timeout = timeout)
    reset: bool = False  # drop the connection with a TCP RST instead of answering


@dataclass
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes  # empty when larger than KEEP_BODY_LIMIT
    body_length: int
    at: float


class ScriptedServer:
    def __init__(self) -> None:
        self._scripts: dict[tuple[str, str], list[Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                body_length, body = self._read_body()
                server._record(
                    Received(
                        self.command,
                        parts.path,
                        parse_qsl(parts.query, keep_blank_values=True),
                        dict(self.headers.items()),
                        body,
                        body_length,
                        time.monotonic(),
                    )
                )
                reply = server._next(self.command, parts.path)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                payload = reply.body
                if payload is None:
                    payload = json.dumps(reply.json).encode() if reply.json is not None else b""
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # the client gave up (read timeout)

            def _read_body(self) -> tuple[int, bytes]:
                kept = bytearray()
                total = 0
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        total += size
                        chunk = self.rfile.read(size)
                        if total <= KEEP_BODY_LIMIT:
                            kept += chunk
                        self.rfile.readline()
                else:
                    remaining = int(self.headers.get("Content-Length") or 0)
                    while remaining:
                        chunk = self.rfile.read(min(remaining, 1024 * 1024))
                        if not chunk:
                            break
                        remaining -= len(chunk)
                        total += len(chunk)
                        if total <= KEEP_BODY_LIMIT:
                            kept += chunk
                return total, bytes(kept) if total <= KEEP_BODY_LIMIT else b""

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # resets and client-side timeouts are the point of these tests

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def script(self, method: str, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[(method.upper(), path)] = list(replies)

    def _next(self, method: str, path: str) -> Reply:
        with self._lock:
            queue = self._scripts.get((method, path))
            if not queue:
                return Reply(404, json={"success": False, "errors": {"__all__": ["Not found."]}})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for received in self.requests
                if (method is None or received.method == method)
                and (path is None or received.path == path)
            )

    def last(self) -> Received:
        with self._lock:
            return self.requests[-1]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def api_server():
    server = ScriptedServer()
    yield server
    server.close()


class SleepRecorder:
    """Stands in for time.sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(api_server, sleeps):
    """A client for the scripted server: short timeouts, recorded sleeps, no rate budget."""
    clients = []

    def _make(**overrides: Any) -> DualEntryClient:
        base_url = overrides.pop("base_url", api_server.url)
        options = {
            "connect_timeout": 1.0,
            "read_timeout": 1.0,
            "sleep": sleeps,
            "jitter": lambda: 0.5,
            **overrides,
        }
        client = DualEntryClient(base_url, API_KEY, **options)
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()
