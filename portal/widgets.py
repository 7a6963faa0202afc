"""Form widgets shared by the portal's forms.

Dates are typed as they are shown everywhere in the portal: ISO `YYYY-MM-DD`. A browser's
`<input type="date">` shows the date in the browser's locale instead (mm/dd/yyyy in an en-US
Chromium, dd.mm.yyyy in a German one) and the page cannot change that, so the same day would
read two ways on one screen. A text input with a pattern and a placeholder reads one way,
takes a pasted "2026-11-30" from a bank statement as it is, and costs only the date picker.
"""

from django import forms

ISO_DATE_FORMAT = "%Y-%m-%d"
ISO_DATE_INPUT_FORMATS = [ISO_DATE_FORMAT]


class IsoDateInput(forms.DateInput):
    input_type = "text"

    def __init__(self, attrs: dict | None = None) -> None:
        defaults = {
            "placeholder": "YYYY-MM-DD",
            "pattern": r"\d{4}-\d{2}-\d{2}",
            "title": "A date as YYYY-MM-DD, e.g. 2026-11-30",
            "maxlength": "10",
            "autocomplete": "off",
            "class": "iso-date",
        }
        super().__init__(attrs={**defaults, **(attrs or {})}, format=ISO_DATE_FORMAT)
