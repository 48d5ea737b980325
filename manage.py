#!/usr/bin/env python
"""Run Exec's administrative commands."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exec_site.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from exec_site.env import SettingsError

    # Reading the settings here turns a bad environment variable into one line
    # on stderr instead of a traceback from deep inside Django.
    try:
        settings.INSTALLED_APPS  # noqa: B018
    except SettingsError as error:
        sys.exit(f"Exec cannot start: {error}")

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
