"""`make screenshots`: the four detail pages, an approval request, a refund's edit form, history
and audit log at 390px and 1280px, as
PNG files for people to review (into $PORTAL_SCREENSHOTS, `screenshots/` under make; the
folder is git-ignored). Skipped in ordinary test runs."""

import os
from pathlib import Path

import pytest

from portal.approvals import services as approval_services
from portal.records.kinds import KINDS, REFUNDS
from tests.browser.test_every_page import _draft_refund
from tests.records.browse_support import one_with_lines

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("sandbox_settings"),
    pytest.mark.skipif(
        not os.environ.get("PORTAL_SCREENSHOTS"), reason="run by `make screenshots`"
    ),
]

WIDTHS = (390, 1280)


def test_screenshots_of_detail_and_approval_pages(
    page, log_in, preparer, approver, sandbox, fill_copy
):
    folder = Path(os.environ["PORTAL_SCREENSHOTS"])
    folder.mkdir(parents=True, exist_ok=True)
    sandbox.reset()
    key, draft = _draft_refund(), _draft_refund()
    request = approval_services.approval_submit(kind=REFUNDS, key=key, user=preparer)
    fill_copy()  # as the worker would have: pages read the copy, forms offer their pickers
    pages = {
        f"{kind.slug}-detail": f"/{kind.slug}/{one_with_lines(sandbox, kind)[kind.key_field]}/"
        for kind in KINDS.values()
    }
    pages["approval-request"] = f"/approvals/{request.pk}/"
    # History in people's words: the submitted refund's page and its audit log entries.
    pages["refunds-history"] = f"/refunds/{key}/"
    pages["audit-log"] = f"/audit/?kind=refunds&key={key}"
    written = []

    def shoot(name: str, path: str) -> None:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(path)
            target = folder / f"{name}-{width}.png"
            page.screenshot(path=str(target), full_page=True)
            written.append(target)

    log_in("preparer")
    shoot("refunds-edit", f"/refunds/{draft}/edit/")
    page.get_by_role("button", name="Log out").click()
    log_in("approver")
    for name, path in pages.items():
        shoot(name, path)
    sandbox.reset()
    assert all(path.stat().st_size > 10_000 for path in written)
    assert len(written) == (len(pages) + 1) * len(WIDTHS)
