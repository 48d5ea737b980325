"""Create the first administrator account for a new installation."""

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Create a superuser with a generated password, printed once, unless one "
        "exists already."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin", help="Login name.")
        parser.add_argument(
            "--url", default="", help="Address of the admin to print with the login."
        )
        parser.add_argument(
            "--email",
            default="",
            help="Email address of the new account; playbooks that notify the "
            "administrators mail it.",
        )

    def handle(
        self, *args: Any, username: str, url: str, email: str, **options: Any
    ) -> None:
        user_model = get_user_model()
        existing = user_model.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            self.stdout.write(
                f"The administrator account {existing.get_username()} exists "
                "already. To reset its password, run `.venv/bin/python manage.py "
                f"changepassword {existing.get_username()}`."
            )
            return

        password = secrets.token_urlsafe(15)
        user = user_model.objects.create_superuser(
            username=username, email=email, password=password
        )
        user.groups.add(Group.objects.get(name="Administrators"))
        where = f" at {url}" if url else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Administrator account created{where}: username {username}, "
                f"password {password}"
            )
        )
        self.stdout.write("The password is shown only this once; store it now.")
