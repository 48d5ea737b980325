"""Forms of the audit pages."""

from typing import Any

from django import forms


class ReportRequestForm(forms.Form):
    since = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="First day, UTC."
    )
    until = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Last day, UTC, included.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Must be on or after the first day.")
        return data
