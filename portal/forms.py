"""Forms of the core app: a person's own settings."""

from django import forms

from portal.timezones import time_zone_names


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Every time in the portal is shown in this zone, with the zone named. "
        "The audit log's CSV stays in UTC.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in time_zone_names()]
