"""Each role sees what it may and gets 403 for what it may not."""

import pytest

# (path, method, who may) -- areas add their pages here as they land.
PAGES = [
    ("/", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/admin/", "get", {"admin"}),
    ("/audit/", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/audit/export.csv", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/audit/verify/", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/approvals/", "get", {"viewer", "preparer", "approver", "admin"}),
    # Browse (the sandbox stands in for DualEntry; see sandbox_settings below).
    ("/refunds/", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/contracts/?status=draft", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/deposits/1001/", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/credits/export.csv", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/drafts/", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/contracts/10322/usage/", "get", {"viewer", "preparer", "approver", "admin"}),
    ("/references/refresh/", "post", {"viewer", "preparer", "approver", "admin"}),
    # Attachments: without files or confirmation nothing is sent (a redirect back to the record).
    ("/refunds/1/attachments/", "post", {"preparer", "approver", "admin"}),
    ("/credits/1/attachments/", "post", set()),
    # Edit: forms for preparers only (viewers and approvers get 403).
    ("/refunds/new/", "get", {"preparer", "admin"}),
    ("/deposits/new/", "get", {"preparer", "admin"}),
    ("/credits/new/", "get", {"preparer", "admin"}),
    ("/contracts/new/", "get", {"preparer", "admin"}),
    ("/refunds/1008/edit/", "get", {"preparer", "admin"}),
    ("/refunds/new/line/?items-TOTAL_FORMS=2", "get", {"preparer", "admin"}),
    ("/contracts/10314/usage/new/", "get", {"preparer", "admin"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method", "allowed"), PAGES)
@pytest.mark.parametrize("persona", ["viewer", "preparer", "approver", "admin_user"])
def test_role_access(request, login_as, sandbox_settings, persona, path, method, allowed):
    user = request.getfixturevalue(persona)
    response = getattr(login_as(user), method)(path)
    name = "admin" if persona == "admin_user" else persona
    if name in allowed:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 302:
            assert "/accounts/login/" not in response["Location"]
    else:
        assert response.status_code in (403, 302)
        if response.status_code == 302:  # the admin site sends non-staff to its own login
            assert "login" in response["Location"]
