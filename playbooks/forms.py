"""Admin forms that check playbooks and steps when they are saved."""

from typing import Any

from django import forms

from playbooks.actions import registered_actions
from playbooks.conditions import validate_conditions
from playbooks.models import Playbook, Step
from playbooks.validation import step_errors, trigger_config_errors


class PlaybookForm(forms.ModelForm):
    """Report trigger settings and each bad condition on their own field."""

    class Meta:
        model = Playbook
        fields = [
            "name",
            "description",
            "enabled",
            "trigger_type",
            "trigger_config",
            "conditions",
            "condition_mode",
            "target_kind",
            "cooldown_minutes",
            "max_concurrent_runs",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        trigger_type = data.get("trigger_type")
        if trigger_type is None:
            return data
        for message in trigger_config_errors(trigger_type, data.get("trigger_config")):
            self.add_error("trigger_config", message)
        conditions = data.get("conditions")
        if conditions is not None:
            for error in validate_conditions(conditions, trigger_type):
                self.add_error("conditions", str(error))
        return data


def _action_choices() -> list[tuple[str, str]]:
    return [
        (name, f"{name}: {cls.label}") for name, cls in registered_actions().items()
    ]


class StepForm(forms.ModelForm):
    """Check the action's parameters against its JSON Schema and templates."""

    action = forms.ChoiceField(choices=_action_choices)

    class Meta:
        model = Step
        fields = [
            "order",
            "name",
            "action",
            "parameters",
            "requires_approval",
            "approval_timeout_minutes",
            "timeout_seconds",
            "max_attempts",
            "backoff_seconds",
            "on_failure",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action is None or "parameters" in self.errors:
            return data
        for field, messages in step_errors(action, data.get("parameters")).items():
            for message in messages:
                self.add_error(field, message)
        return data


class RunPlaybookForm(forms.Form):
    playbook = forms.ModelChoiceField(queryset=Playbook.objects.none())

    def __init__(self, *args: Any, playbooks: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["playbook"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = playbooks
