from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from approvals import actions, notify, receivers
        from approvals.models import ApprovalPolicy
        from playbooks import hooks, signals

        hooks.register_approval_requester(actions.approval_requester)
        notify.register_channel("slack", notify.slack_channel)
        hooks.register_approval_loader(actions.load_approval)
        signals.run_cancelled.connect(
            receivers.on_run_cancelled, dispatch_uid="approvals.run_cancelled"
        )
        auditlog.register(ApprovalPolicy)
