"""Background tasks of the forensics app, run by django-q2."""

from django.utils import timezone

from forensics import actions


def purge_expired_forensics() -> dict[str, int]:
    """Delete packages and files past retention; safe to run any number of times."""
    return actions.purge_expired(timezone.now())
