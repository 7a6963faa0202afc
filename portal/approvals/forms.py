"""Forms of the approval pages (the change-request page reuses the edit forms of records)."""

from django import forms

from portal.records.filters import page_size_field
from portal.records.kinds import KINDS
from portal.records.listing import (
    AmountField,
    SortedQueryForm,
    SortField,
    age_field,
    kind_field,
    number_choice_field,
)
from portal.secret_input import refuse_api_key

COMMENT_MAX = 2000


def _comment_field(*, rows: int) -> forms.CharField:
    """A decision comment or a note: optional, bounded, and never holding the API key."""
    return forms.CharField(
        required=False,
        max_length=COMMENT_MAX,
        strip=True,
        validators=[refuse_api_key],
        widget=forms.Textarea(attrs={"rows": rows, "cols": 60}),
    )


class DecisionForm(forms.Form):
    # The hash of the content the approver reviewed; approval refuses any other content.
    payload_hash = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    comment = _comment_field(rows=3)


class NoteForm(forms.Form):
    note = _comment_field(rows=2)


# --- the queue's filters ---------------------------------------------------------------------

QUEUE_SORTS = {
    "submitted": "Submitted",
    "amount": "Amount",
    "kind": "Kind",
    "title": "What",
}
QUEUE_DEFAULT_SORT = "submitted"  # oldest waiting first: first come, first served


class QueueFilterForm(SortedQueryForm):
    """Filters, sort and page size of the "waiting for me" queue (bound to GET)."""

    default_sort = QUEUE_DEFAULT_SORT

    def __init__(self, data, *, companies: list[tuple[str, str]], preparers) -> None:
        super().__init__(data, label_suffix="")
        self.fields["kind"] = kind_field(KINDS.values())
        self.fields["company"] = number_choice_field("Company", [("", "Any"), *companies])
        self.fields["preparer"] = number_choice_field("Submitted by", [("", "Anyone"), *preparers])
        self.fields["age"] = age_field()
        self.fields["amount_min"] = AmountField(label="Amount from")
        self.fields["amount_max"] = AmountField(label="Amount to")
        self.fields["sort"] = SortField(keys=QUEUE_SORTS, default=QUEUE_DEFAULT_SORT)
        self.fields["limit"] = page_size_field()

    @property
    def filter_fields(self) -> list:
        return [self[name] for name in self.fields if name not in ("sort",)]
