from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from auditlog.models import LogEntry
        from auditlog.registry import auditlog
        from django.contrib.auth import signals as auth_signals
        from django.contrib.auth.models import Group, User
        from django.db.models.signals import post_save

        from audit import receivers
        from exec_site.events import event_recorded

        event_recorded.connect(
            receivers.store_recorded_event, dispatch_uid="exec-audit-store-event"
        )
        post_save.connect(
            receivers.store_config_change,
            sender=LogEntry,
            dispatch_uid="exec-audit-config-change",
        )
        auth_signals.user_logged_in.connect(
            receivers.store_login, dispatch_uid="exec-audit-login"
        )
        auth_signals.user_logged_out.connect(
            receivers.store_logout, dispatch_uid="exec-audit-logout"
        )
        auth_signals.user_login_failed.connect(
            receivers.store_login_failure, dispatch_uid="exec-audit-login-failed"
        )

        # Who may do what: users, their groups and direct permissions, and
        # each group's permissions. The password hash is never copied into
        # the history, and last_login changes are logins, recorded as such.
        auditlog.register(
            User,
            exclude_fields=["password", "last_login"],
            m2m_fields={"groups", "user_permissions"},
        )
        auditlog.register(Group, m2m_fields={"permissions"})
