from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    verbose_name = "Playbooks"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from endpoints import signals
        from playbooks import receivers
        from playbooks.actions import builtin  # noqa: F401  (registers actions)
        from playbooks.models import Playbook, Step

        signals.status_changed.connect(
            receivers.on_status_changed, dispatch_uid="playbooks.status_changed"
        )
        signals.agent_task_finished.connect(
            receivers.on_agent_task_finished,
            dispatch_uid="playbooks.agent_task_finished",
        )
        auditlog.register(Playbook, exclude_fields=["next_run", "updated"])
        auditlog.register(Step)
