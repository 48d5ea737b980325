"""Forms of the approve and reject buttons on a request's page."""

from typing import Any

from django import forms

from approvals.models import ApprovalRequest


class ApproveForm(forms.Form):
    option = forms.ChoiceField(
        required=False,
        widget=forms.RadioSelect,
        label="Account or choice to act on",
    )
    comment = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Comment (optional)",
    )

    def __init__(self, *args: Any, request: ApprovalRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        option_field = self.fields["option"]
        assert isinstance(option_field, forms.ChoiceField)
        option_field.choices = [
            (option["id"], option.get("label", option["id"]))
            for option in request.options
        ]
        option_field.required = bool(request.options)


class RejectForm(forms.Form):
    comment = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Why must this not run?",
        error_messages={"required": "A rejection needs a comment that says why."},
    )
