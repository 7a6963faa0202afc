"""Which modules one refund edit (POST to PUT) enters: not collected by default (its name does not
start with test_); run it with `pytest tests/records/measure_edit_path.py -s`.

`sys.setprofile` records every call into a module of `portal/` or `dualentry_api/` (not the
sandbox) during one POST of the edit form, and the distinct caller -> callee module pairs; the
README's "One edit, top to bottom" quotes its figures.
"""

import sys
from pathlib import Path

import pytest

from tests.records.edit_support import form_values
from tests.records.test_views_edit import _create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]
ROOT = Path(__file__).resolve().parents[2]


def _module(filename: str) -> str | None:
    path = Path(filename)
    try:
        rel = path.relative_to(ROOT)
    except ValueError:
        return None
    if rel.parts[0] not in ("portal", "dualentry_api") or "sandbox" in rel.parts:
        return None
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_refund_edit_path(login_as, preparer, sandbox):
    client = login_as(preparer)
    key, _ = _create(client, sandbox, "refunds")
    data = form_values(client.get(f"/refunds/{key}/edit/").content.decode())
    data["memo"] = "Changed"
    entered: list[str] = []  # every module entered while the request is handled
    on_path: set[str] = set()  # those entered below the view function (not the middleware)
    edges: set[tuple[str, str]] = set()

    def under_view(frame) -> bool:
        while frame is not None:
            if frame.f_code.co_name == "record_edit":
                return True
            frame = frame.f_back
        return False

    def profile(frame, event, arg):
        if event != "call":
            return
        module = _module(frame.f_code.co_filename)
        if module is None:
            return
        caller = frame.f_back
        while caller is not None and _module(caller.f_code.co_filename) is None:
            caller = caller.f_back
        if caller is not None:
            source = _module(caller.f_code.co_filename)
            if source != module:
                edges.add((source, module))
        entered.append(module)
        if under_view(frame):
            on_path.add(module)

    sys.setprofile(profile)
    try:
        response = client.post(f"/refunds/{key}/edit/", data)
    finally:
        sys.setprofile(None)
    assert response.status_code == 302
    assert all(module.startswith(("portal", "dualentry_api")) for module in entered)
    path = sorted(m for m in on_path if m.startswith("portal"))
    plumbing = sorted(m for m in set(entered) - on_path if m.startswith("portal"))
    print("\nPATH", len(path), path)
    print("REQUEST PLUMBING (middleware, not below the view)", len(plumbing), plumbing)
    print("API", sorted(m for m in on_path if m.startswith("dualentry_api")))
    print("EDGES", len(edges))
    for source, target in sorted(edges):
        print("  ", source, "->", target)
