import datetime

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator

from portal.audit.actions import ACTION_CHOICES
from portal.audit.selectors import AuditFilters
from portal.records.kinds import KINDS
from portal.widgets import ISO_DATE_INPUT_FORMATS, IsoDateInput

OUTCOME_CHOICES = [("", "Any outcome"), ("success", "Succeeded"), ("failure", "Failed")]
# Days the filters accept: wide enough for any real event, narrow enough that "the day after"
# and time-zone shifts never leave Python's or the database's date range.
EARLIEST_DAY = datetime.date(1970, 1, 1)
LATEST_DAY = datetime.date(2999, 12, 31)
_DAY_RANGE = f"Enter a date between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}."


def _day_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        label=label,
        input_formats=ISO_DATE_INPUT_FORMATS,
        widget=IsoDateInput(),
        validators=[
            MinValueValidator(EARLIEST_DAY, message=_DAY_RANGE),
            MaxValueValidator(LATEST_DAY, message=_DAY_RANGE),
        ],
    )


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        full_name = obj.get_full_name()
        return f"{full_name} ({obj.get_username()})" if full_name else obj.get_username()


class AuditFilterForm(forms.Form):
    """The audit page's filters (all optional); `filters()` turns them into AuditFilters."""

    person = PersonChoiceField(queryset=None, required=False, empty_label="Anyone")
    action = forms.ChoiceField(choices=[("", "Any action"), *ACTION_CHOICES], required=False)
    kind = forms.ChoiceField(required=False, label="Record kind")
    key = forms.CharField(required=False, max_length=100, label="Record number or id")
    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, required=False)
    date_from = _day_field("From")
    date_to = _day_field("To")
    correlation_id = forms.CharField(required=False, max_length=64, label="Request id")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = get_user_model().objects.order_by("username")
        self.fields["kind"].choices = [
            ("", "Any kind"),
            *((slug, kind.label_plural.capitalize()) for slug, kind in KINDS.items()),
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The “From” date is after the “To” date.")
        return cleaned

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        person = data.get("person")
        return AuditFilters(
            person=person.pk if person is not None else None,
            action=data.get("action") or "",
            kind=data.get("kind") or "",
            key=(data.get("key") or "").strip(),
            outcome=data.get("outcome") or "",
            correlation_id=(data.get("correlation_id") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
