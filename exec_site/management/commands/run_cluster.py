"""Run the django-q2 cluster under a process manager such as honcho."""

import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run `qcluster` in a session of its own and pass SIGTERM and SIGINT to its "
        "main process only, so that it stops its workers cleanly."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # honcho stops a process by signalling its whole process group. django-q2
        # workers die at once on SIGTERM, and the cluster then waits for them
        # until honcho kills it; signalled alone, the cluster stops in seconds.
        manage = Path(settings.BASE_DIR) / "manage.py"
        cluster = subprocess.Popen(
            [sys.executable, str(manage), "qcluster"], start_new_session=True
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            cluster.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        sys.exit(cluster.wait())
