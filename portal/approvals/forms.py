"""Forms of the approval pages (the change-request page reuses the edit forms of records)."""

from django import forms

COMMENT_MAX = 2000


class DecisionForm(forms.Form):
    # The hash of the content the approver reviewed; approval refuses any other content.
    payload_hash = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=COMMENT_MAX,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )
