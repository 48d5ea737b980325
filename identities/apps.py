from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "identities"
    verbose_name = "Identities"

    def ready(self) -> None:
        # Registers the Okta and notification actions with the run engine.
        from identities import notification_actions, okta_actions  # noqa: F401
