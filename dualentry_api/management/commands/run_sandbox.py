"""``python manage.py run_sandbox``: the local DualEntry stand-in, in its own process.

Options win over environment variables, which win over defaults:

- ``--host`` / ``DUALENTRY_SANDBOX_HOST`` (127.0.0.1), ``--port`` / ``DUALENTRY_SANDBOX_PORT``
  (8765), ``--api-key`` / ``DUALENTRY_SANDBOX_API_KEY`` (``sandbox-key``),
- ``--state-file`` / ``DUALENTRY_SANDBOX_STATE_FILE``: keep data in this JSON file, written
  atomically after every write, so restarts keep changes (without it: in memory, fresh seed),
- ``--reset``: start from the seed even if the state file exists,
- ``--records-per-kind`` / ``DUALENTRY_SANDBOX_RECORDS_PER_KIND``: seed N refunds, deposits,
  credits and contracts each instead of the standard mix (for benchmarks),
- faults, off by default: ``DUALENTRY_SANDBOX_LATENCY_MS``, ``DUALENTRY_SANDBOX_ERROR_RATE``,
  ``DUALENTRY_SANDBOX_ERROR_SEED``, ``DUALENTRY_SANDBOX_RATE_LIMITS`` (``1`` turns the
  documented token buckets on). Tests change them at run time via ``/__sandbox__/faults``.

The sandbox is a development and test tool: its dependencies (werkzeug, jsonschema) come with
the ``sandbox`` extra, not with a production install. So the command imports it only when it
runs, and says how to install it when it is missing; everything else in ``dualentry_api``
and ``portal`` never imports ``dualentry_api.sandbox`` (``tests/api/test_layers.py``).
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError


def _env(name: str, default: str) -> str:
    return os.environ.get(f"DUALENTRY_SANDBOX_{name}", default)


class Command(BaseCommand):
    help = "Run the DualEntry API sandbox (a local stand-in for the Public API v2)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(_env("PORT", "8765")))
        parser.add_argument("--api-key", default=_env("API_KEY", "") or None)
        parser.add_argument("--state-file", default=_env("STATE_FILE", "") or None)
        parser.add_argument(
            "--reset", action="store_true", help="Start from the seed, even with a state file."
        )
        parser.add_argument(
            "--records-per-kind",
            type=int,
            default=None,
            help="Seed this many refunds, deposits, credits and contracts each.",
        )

    def handle(self, *args, **options) -> None:
        try:
            from dualentry_api.sandbox.seed import Seed, seed_from_environment
            from dualentry_api.sandbox.server import SandboxServer
        except ImportError as err:
            raise CommandError(
                f"The sandbox needs the 'sandbox' extra ({err.name} is missing): "
                'pip install -e ".[sandbox]" (make install does this).'
            ) from err
        key = {"api_key": options["api_key"]} if options["api_key"] else {}
        try:
            per_kind = options["records_per_kind"]
            seed = Seed(per_kind) if per_kind is not None else seed_from_environment()
        except ValueError as err:
            raise CommandError(str(err)) from err
        server = SandboxServer(
            host=options["host"],
            port=options["port"],
            state_file=options["state_file"],
            seed=seed,
            **key,
        )
        if options["reset"]:
            server.app.reset()
        server.app.set_faults(
            latency_ms=int(_env("LATENCY_MS", "0")),
            error_rate=float(_env("ERROR_RATE", "0")),
            error_seed=int(_env("ERROR_SEED", "0")),
            rate_limits=_env("RATE_LIMITS", "0").lower() in ("1", "true", "yes", "on"),
        )
        where = options["state_file"] or "memory (fresh seed)"
        self.stdout.write(
            f"DualEntry sandbox on {server.url}/public/v2/ (X-API-KEY: {server.api_key}; "
            f"state: {where}). Ctrl-C stops it."
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Sandbox stopped.")
        finally:
            server.server.server_close()
