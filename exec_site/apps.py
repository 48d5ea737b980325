from django.apps import AppConfig


class ExecSiteConfig(AppConfig):
    name = "exec_site"
    verbose_name = "Exec"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from exec_site.roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="exec-sync-roles")
