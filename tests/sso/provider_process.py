"""Runs the test OpenID Connect provider (tests/sso/provider/provider.mjs, panva's
`oidc-provider` from npm, installed by `make oidc-provider`) as a child process."""

import json
import os
import selectors
import shutil
import subprocess
import time
from pathlib import Path

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
CLIENT_ID = "finance-portal"
CLIENT_SECRET = "test-client-secret-0123456789"


class OIDCProvider:
    """A running provider: `issuer`, and `set_account(...)` to change a person at the IdP."""

    def __init__(self, *, accounts_file: Path, redirect_uri: str) -> None:
        node = shutil.which("node")
        if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                "The test OIDC provider is not installed: "
                "run `make test` (or `make oidc-provider`)."
            )
        self.accounts_file = accounts_file
        self._accounts: dict[str, dict] = {}
        self._write()
        self.process = subprocess.Popen(
            [node, "provider.mjs"],
            cwd=PROVIDER_DIR,
            env={
                **os.environ,
                "ACCOUNTS_FILE": str(accounts_file),
                "CLIENT_ID": CLIENT_ID,
                "CLIENT_SECRET": CLIENT_SECRET,
                "REDIRECT_URIS": redirect_uri,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.issuer = self._wait_until_ready(timeout=30)

    def _wait_until_ready(self, *, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                if selector.select(timeout=0.5):
                    line = self.process.stdout.readline()
                    if line.startswith("READY "):
                        return line.split()[1]
        self.stop()
        raise RuntimeError("The test OIDC provider did not start.")

    def set_account(self, login: str, **fields) -> None:
        self._accounts[login] = fields
        self._write()

    def _write(self) -> None:
        temporary = self.accounts_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._accounts))
        temporary.replace(self.accounts_file)  # the provider never reads half a file

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
