"""Who may import whom: the import graph of `portal/` and `dualentry_api/` (README, "Who may
import whom").

Every module is parsed with `ast`, imports inside functions included, so a lazy import does not
hide a dependency. Three rules:
- no import cycles between modules;
- imports run down the layers only (`LAYERS`): a module imports its own layer's package or a
  lower layer, never a higher one and never a sibling on the same level;
- nothing outside `dualentry_api/sandbox/` imports the sandbox (the tests may).
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "dualentry_api")
SANDBOX = "dualentry_api.sandbox"
COMPOSITION_ROOT = 100

# (layer, level, module prefixes): a module belongs to the layer of the longest prefix that
# names it. A module may import modules of its own layer, or of a layer on a lower level.
LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    # The bottom: the API client (speaks HTTP to DualEntry, knows nothing of the portal) and the
    # portal's core (roles and permissions, the permission-holding model, the app config).
    ("dualentry_api", 10, ("dualentry_api",)),
    (
        "portal core",
        10,
        (
            "portal",  # the package itself
            "portal.apps",
            "portal.models",
            "portal.permissions",
            "portal.roles",
        ),
    ),
    # The record-kind registry: a declarative table every layer reads (forms resolved lazily).
    ("portal.records.kinds", 20, ("portal.records.kinds",)),
    # The read model: the local copy of DualEntry and its sync. It sits on the client, below
    # audit and records; the kinds reach it by registration (records' AppConfig.ready), so it
    # never imports records.
    ("portal.readmodel", 15, ("portal.readmodel",)),
    # The sandbox sits on the client's spec; rule 3 keeps everything else away from it.
    (SANDBOX, 20, (SANDBOX,)),
    ("portal.audit", 30, ("portal.audit",)),
    # The audit pages show records' names for the ids in events (records' reference cache), so
    # they sit above records, as approvals' pages do; nothing below imports them.
    ("portal.audit pages", 45, ("portal.audit.views", "portal.audit.urls")),
    # The approval models answer "is this record waiting for approval?" for records
    # (`ApprovalRequest.objects.open_for`); they import nothing from portal.
    ("portal.approvals.models", 35, ("portal.approvals.models",)),
    ("portal.records", 40, ("portal.records",)),
    ("portal.approvals", 50, ("portal.approvals",)),
    # Operations: request context for logs, metrics, readiness. It watches the client and the
    # audit log from outside (call observer, post_save) and reads the read model's tables by
    # app label, so nothing below it knows it is there.
    ("portal.ops", 60, ("portal.ops",)),
    # The composition root: settings, URLs, the site pages (dashboard, health, error pages) and
    # the entry points (management commands, the pytest plugin) may import every layer.
    (
        "composition root",
        COMPOSITION_ROOT,
        (
            "portal.context_processors",
            "portal.errors",
            "portal.management",
            # Settings name the middleware; the friendly 404 renders the site's error page.
            "portal.middleware",
            "portal.pytest_plugin",
            "portal.selectors",
            "portal.settings",
            # The single sign-on backend is an entry point too (settings name it; it audits
            # log-ins).
            "portal.sso",
            "portal.urls",
            "portal.views",
            "portal.wsgi",
        ),
    ),
)

# The command that starts the sandbox (`make run`, the benchmarks). It imports the sandbox only
# inside `handle()`, so a production install without the `sandbox` extra never loads it.
SANDBOX_ENTRY_POINTS = frozenset({"dualentry_api.management.commands.run_sandbox"})


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def _owner(name: str) -> str | None:
    """The module of ours that importing `name` executes last (`a.b.c` -> `a.b` if c is a
    name in a.b); None for third-party modules."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def import_graph() -> dict[str, frozenset[str]]:
    graph = {}
    for name, path in modules().items():
        is_package = path.name == "__init__.py"
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported.update(filter(None, (_owner(alias.name) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join([*package, *([node.module] if node.module else [])])
                for alias in node.names:
                    target = _owner(f"{base}.{alias.name}") or _owner(base)
                    if target:
                        imported.add(target)
        imported.discard(name)
        graph[name] = frozenset(imported)
    return graph


def _cycles(graph: dict[str, frozenset[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(name: str) -> tuple[str, int]:
    """(layer, level) of a module."""
    matches = [
        (prefix, layer, level)
        for layer, level, prefixes in LAYERS
        for prefix in prefixes
        if name == prefix or name.startswith(prefix + ".")
    ]
    _prefix, layer, level = max(matches, key=lambda match: len(match[0]))
    return layer, level


def _is_sandbox(name: str) -> bool:
    return name == SANDBOX or name.startswith(SANDBOX + ".")


def layer_violations() -> list[str]:
    violations = []
    for name, imported in sorted(import_graph().items()):
        layer, level = layer_of(name)
        for target in sorted(imported):
            if _is_sandbox(target) and not _is_sandbox(name):
                continue  # rule 3 reports these
            target_layer, target_level = layer_of(target)
            if target_layer != layer and target_level >= level:
                violations.append(f"{name} ({layer}) imports {target} ({target_layer})")
    return violations


def sandbox_importers() -> set[str]:
    return {
        name
        for name, imported in import_graph().items()
        if not _is_sandbox(name) and any(_is_sandbox(target) for target in imported)
    }


def imports_across(
    importers: str | tuple[str, ...],
    targets: str | tuple[str, ...],
    *,
    allowed: Collection[str] = (),
) -> list[str]:
    """Each import of a module under `targets` by a module under `importers`, as "a imports b",
    but for the `allowed` targets. Both name prefixes the way `str.startswith` takes them."""
    return [
        f"{name} imports {target}"
        for name, imported in import_graph().items()
        if name.startswith(importers)
        for target in imported
        if target.startswith(targets) and target not in allowed
    ]


# --- the rules ---------------------------------------------------------------------------------


def test_every_module_has_a_layer():
    assert modules(), "no modules found: is ROOT right?"
    for name in modules():
        assert layer_of(name)


def test_the_graph_sees_imports_inside_functions():
    # records.selectors imports the reference cache inside a function on purpose (import cost).
    assert "portal.records.references" in import_graph()["portal.records.selectors"]


def test_no_import_cycles():
    assert [sorted(cycle) for cycle in _cycles(import_graph())] == []


def test_imports_run_down_the_layers():
    assert layer_violations() == []


def test_records_never_imports_approvals_beyond_its_models():
    allowed = {"portal.approvals.models"}
    assert imports_across("portal.records", "portal.approvals", allowed=allowed) == []


def test_the_approval_models_import_nothing_from_the_portal_apps():
    imported = import_graph()["portal.approvals.models"]
    assert {name for name in imported if layer_of(name)[1] > 10} == set()


def test_nothing_else_imports_the_sandbox_except_known_entry_points():
    assert sandbox_importers() - SANDBOX_ENTRY_POINTS == set()


def test_the_client_and_the_sandbox_have_no_cycles():
    """The two cycles issue 12 found in dualentry_api/ (client <-> resources, and the
    sandbox's store <-> seed) stay broken."""
    dualentry_api_modules = {name for name in modules() if name.startswith("dualentry_api")}
    assert not any(cycle & dualentry_api_modules for cycle in _cycles(import_graph()))


def test_the_read_model_never_imports_records_or_approvals():
    assert imports_across("portal.readmodel", ("portal.records", "portal.approvals")) == []


def test_permissions_are_named_only_in_the_permission_module():
    """Views, services and selectors import `portal.permissions`; nobody writes one out."""
    from portal.permissions import DESCRIPTIONS, codename

    written = {f'"{name}"' for name in DESCRIPTIONS}
    offenders = [
        name
        for name, path in modules().items()
        if name != "portal.permissions"
        and ".migrations." not in name
        and any(text in path.read_text() for text in written)
    ]
    assert offenders == []
    assert all(codename(name) for name in DESCRIPTIONS)
