"""Running the sandbox app on a real socket (threaded werkzeug server)."""

from __future__ import annotations

import threading
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dualentry_api.sandbox.app import DEFAULT_API_KEY, SandboxApp
from dualentry_api.sandbox.seed import Seed
from dualentry_api.sandbox.store import Store


class QuietRequestHandler(WSGIRequestHandler):
    """No per-request access log lines (tests and benchmarks make thousands of requests)."""

    def log_request(self, code="-", size="-") -> None:
        return


class SandboxServer:
    """A sandbox app served from a background thread.

    ``SandboxServer(port=0)`` picks a free port; ``url`` is the base URL (without
    ``/public/v2``), which is what ``DUALENTRY_API_URL`` expects. ``seed`` says what a fresh
    or reset sandbox holds (default: the standard mix).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        state_file: Path | str | None = None,
        quiet: bool = True,
        seed: Seed | None = None,
    ):
        store = Store(state_file=state_file, seed=seed or Seed())
        self.app = SandboxApp(store=store, api_key=api_key)
        self.server: BaseWSGIServer = make_server(
            host,
            port,
            self.app,
            threaded=True,
            request_handler=QuietRequestHandler if quiet else WSGIRequestHandler,
        )
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_key(self) -> str:
        return self.app.api_key

    def start(self) -> SandboxServer:
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="dualentry-sandbox", daemon=True
        )
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.app.store.close()
