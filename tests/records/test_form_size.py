"""The largest form the portal offers fits Django's request limits: a 200-line contract gets
the portal's own page (saved, or the form with its messages), never a bare 400."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from portal.records.forms import MAX_LINES, FormReferences
from portal.records.kinds import KINDS
from portal.records.models import Proposal
from tests.records.edit_support import SEATS, contract_form

# Posted besides the header and line fields: the formset's four management fields, the form
# token, the CSRF token and the submit button's name.
_OTHER_FIELDS = 7


def _fields_needed() -> dict[str, int]:
    """Fields a browser posts for each kind's form at the line formset's absolute maximum."""
    needed = {}
    for kind in KINDS.values():
        forms = kind.forms
        formset = forms.formset(form_kwargs={"references": FormReferences()})
        per_line = len(forms.line.base_fields) + (1 if formset.can_delete else 0)
        needed[kind.slug] = len(forms.header.base_fields) + formset.absolute_max * per_line
    return needed


def test_request_field_limit_fits_the_largest_form_at_its_maximum():
    needed = _fields_needed()
    largest = max(needed.values()) + _OTHER_FIELDS
    assert needed["contracts"] + _OTHER_FIELDS == largest  # the contract form is the largest
    assert largest <= settings.DATA_UPLOAD_MAX_NUMBER_FIELDS < 2 * largest


def _token(client) -> str:
    page = client.get("/contracts/new/").content.decode()
    return re.search(r'name="form_token" value="([^"]+)"', page)[1]


def _contract_post(token: str, lines: int) -> dict:
    line = {
        "id": "",
        "item_id": "301",
        **SEATS,
        "recognition_start_date": "",
        "recognition_end_date": "",
        "is_auto_renewable": "",
    }
    return contract_form(token, memo="Two hundred obligations", lines=[line] * lines)


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_settings")
def test_two_hundred_line_contract_is_saved_not_refused(login_as, preparer):
    client = login_as(preparer)
    data = _contract_post(_token(client), MAX_LINES)
    assert len(data) > 2000  # far beyond Django's default of 1,000 fields
    response = client.post("/contracts/new/", data)
    assert response.status_code == 302, response.content.decode()[:1000]
    proposal = Proposal.objects.get()
    assert len(proposal.payload["obligations"]) == MAX_LINES


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_settings")
def test_too_many_lines_get_a_message_and_keep_the_input(login_as, preparer):
    client = login_as(preparer)
    data = _contract_post(_token(client), MAX_LINES + 20)
    response = client.post("/contracts/new/", data)
    page = response.content.decode()
    assert response.status_code in (200, 422)
    assert "Two hundred obligations" in page  # the typed input is still there
    assert f"{MAX_LINES}" in page and "Bad Request" not in page
