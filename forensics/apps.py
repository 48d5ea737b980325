from django.apps import AppConfig


class ForensicsConfig(AppConfig):
    name = "forensics"
    verbose_name = "Forensics"

    def ready(self) -> None:
        # Registers the agent token's OpenAPI security scheme.
        from forensics import schema  # noqa: F401
