from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    name = "endpoints"
    verbose_name = "Endpoints"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from endpoints import schema  # noqa: F401  (registers the auth scheme)
        from endpoints.models import Endpoint, EnrollmentToken, Tag

        # Operator-editable fields only; token hashes are never logged.
        auditlog.register(
            Endpoint,
            include_fields=["tags", "legal_hold", "contained"],
            m2m_fields={"tags"},
        )
        auditlog.register(
            EnrollmentToken,
            exclude_fields=["token_hash"],
            m2m_fields={"tags"},
        )
        auditlog.register(Tag)
