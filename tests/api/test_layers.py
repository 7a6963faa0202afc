"""How ``dualentry_api`` is layered: no import cycles, the sandbox kept to itself, and a
production install that needs none of the sandbox's dependencies."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dualentry_api"
SANDBOX = "dualentry_api.sandbox"
# The one way in from outside: the command that runs the sandbox imports it when it runs.
SANDBOX_ENTRY_POINTS = {"dualentry_api.management.commands.run_sandbox"}
SANDBOX_ONLY_DEPENDENCIES = ("jsonschema", "referencing", "werkzeug")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph(root: Path) -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in root.rglob("*.py")}
    return {
        name: {imported for imported in _imports(path) if imported in modules and imported != name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str] | None:
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        if name in done:
            return None
        visiting.append(name)
        for imported in sorted(graph[name]):
            found = visit(imported)
            if found:
                return found
        visiting.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        found = visit(name)
        if found:
            return found
    return None


def test_modules_of_dualentry_api_import_each_other_without_cycles():
    assert _cycle(_graph(PACKAGE)) is None


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_nothing_outside_the_sandbox_and_the_tests_imports_the_sandbox():
    offenders = sorted(
        f"{_module_name(path)} imports {imported}"
        for source in (ROOT / "portal", PACKAGE)
        for path in source.rglob("*.py")
        if not _module_name(path).startswith(SANDBOX)
        and _module_name(path) not in SANDBOX_ENTRY_POINTS
        for imported in _imports(path)
        if imported == SANDBOX or imported.startswith(f"{SANDBOX}.")
    )
    assert offenders == []


def _run_django_script(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh Python (so the modules it hides are really missing) with the
    portal's settings; its output comes back as text."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_portal_runs_without_the_sandbox_dependencies(tmp_path):
    """Import every portal and client module, and parse an answer, with jsonschema/werkzeug gone."""
    script = f"""
import importlib, pkgutil, sys
for name in {SANDBOX_ONLY_DEPENDENCIES!r}:
    sys.modules[name] = None  # "import jsonschema" now raises ImportError
import django
django.setup()
import dualentry_api, portal
skipped = ("{SANDBOX}", "portal.pytest_plugin")
count = 0
for package in (dualentry_api, portal):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.startswith(skipped):
            importlib.import_module(info.name)
            count += 1
from dualentry_api.records import CallInfo
from dualentry_api.transport import Answer
info = CallInfo("GET", "/public/v2/customers/1/", 200, 1.0, None)
customer = Answer({{"id": 1, "name": "Acme"}}, info, "/public/v2/customers/{{customer_id}}/")
assert customer.parse_record().name == "Acme"
print(count)
"""
    result = _run_django_script(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) > 20  # it really imported the modules


def test_run_sandbox_without_the_sandbox_extra_says_how_to_install_it():
    script = """
import sys
sys.modules["werkzeug"] = None
import django
django.setup()
from django.core.management import call_command
from django.core.management.base import CommandError
try:
    call_command("run_sandbox", "--port", "0")
except CommandError as err:
    print(err)
"""
    result = _run_django_script(script)
    assert "needs the 'sandbox' extra" in result.stdout, result.stderr[-3000:]
