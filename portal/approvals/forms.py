"""Forms of the approval pages (the change-request page reuses the edit forms of records)."""

from django import forms

from portal.records.filters import DEFAULT_PAGE_SIZE, PAGE_SIZES, FastCheckboxes, FastSelect
from portal.records.kinds import KINDS
from portal.records.listing import AGE_CHOICES, AmountField, SortField
from portal.secret_input import refuse_api_key

COMMENT_MAX = 2000


class DecisionForm(forms.Form):
    # The hash of the content the approver reviewed; approval refuses any other content.
    payload_hash = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX,
        strip=True,
        validators=[refuse_api_key],
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=COMMENT_MAX,
        strip=True,
        validators=[refuse_api_key],
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


# --- the queue's filters ---------------------------------------------------------------------

QUEUE_SORTS = {
    "submitted": "Submitted",
    "amount": "Amount",
    "kind": "Kind",
    "title": "What",
}
QUEUE_DEFAULT_SORT = "submitted"  # oldest waiting first: first come, first served


class QueueFilterForm(forms.Form):
    """Filters, sort and page size of the "waiting for me" queue (bound to GET)."""

    def __init__(self, data, *, companies: list[tuple[str, str]], preparers) -> None:
        super().__init__(data, label_suffix="")
        self.fields["kind"] = forms.MultipleChoiceField(
            label="Kind",
            required=False,
            choices=[(kind.slug, kind.label_plural.capitalize()) for kind in KINDS.values()],
            widget=FastCheckboxes,
        )
        self.fields["company"] = forms.TypedChoiceField(
            label="Company",
            required=False,
            coerce=int,
            empty_value=None,
            choices=[("", "Any"), *companies],
            widget=FastSelect,
        )
        self.fields["preparer"] = forms.TypedChoiceField(
            label="Submitted by",
            required=False,
            coerce=int,
            empty_value=None,
            choices=[("", "Anyone"), *preparers],
            widget=FastSelect,
        )
        self.fields["age"] = forms.TypedChoiceField(
            label="Waiting",
            required=False,
            coerce=int,
            empty_value=None,
            choices=AGE_CHOICES,
            widget=FastSelect,
        )
        self.fields["amount_min"] = AmountField(label="Amount from")
        self.fields["amount_max"] = AmountField(label="Amount to")
        self.fields["sort"] = SortField(keys=QUEUE_SORTS, default=QUEUE_DEFAULT_SORT)
        self.fields["limit"] = forms.TypedChoiceField(
            label="Per page",
            choices=[(str(size), str(size)) for size in PAGE_SIZES],
            coerce=int,
            empty_value=DEFAULT_PAGE_SIZE,
            required=False,
            widget=FastSelect,
        )

    @property
    def values(self) -> dict:
        self.is_valid()
        return self.cleaned_data

    @property
    def sort_value(self) -> str:
        return self.values.get("sort") or QUEUE_DEFAULT_SORT

    @property
    def filter_fields(self) -> list:
        return [self[name] for name in self.fields if name not in ("sort",)]

    def error_list(self) -> list[tuple[str, str]]:
        return [
            (self.fields[name].label or name, " ".join(errors))
            for name, errors in self.errors.items()
            if name in self.fields
        ]

    def sort_link(self, key: str) -> tuple[str, str]:
        current = self.sort_value
        if current == key:
            return f"-{key}", "ascending"
        if current == f"-{key}":
            return key, "descending"
        return key, "none"
