"""Add the starter playbooks that a new installation begins with."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from playbooks.starter import StarterPlaybookError, load_starter_playbooks


class Command(BaseCommand):
    help = (
        "Create each starter playbook that no playbook of the same name exists "
        "for; existing ones, edited or not, are left unchanged."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = load_starter_playbooks()
        except StarterPlaybookError as error:
            raise CommandError(f"invalid starter playbook: {error}") from None

        for name in result.created:
            self.stdout.write(f"Starter playbook created: {name}")
        if result.kept:
            self.stdout.write(
                f"Starter playbooks already present, left unchanged: "
                f"{', '.join(result.kept)}"
            )
