"""Enroll this machine's agent with the local server once, then run it."""

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from endpoints.actions import create_enrollment_token
from endpoints.choices import FINAL
from endpoints.models import Endpoint, hash_token

ENROLL_TIMEOUT = 60


def default_config_path() -> Path:
    return Path(settings.VAR_DIR) / "agent" / "agent.json"


def enrolled_endpoint(config_path: Path, server_url: str) -> Endpoint | None:
    """Return the endpoint the saved configuration belongs to, if still valid.

    A configuration for another server, or for an endpoint this database does
    not know (a fresh database) or no longer accepts, is not valid.
    """
    try:
        saved = json.loads(config_path.read_text())
        endpoint_id = int(saved["endpoint_id"])
        token = str(saved["agent_token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if str(saved.get("server_url", "")).rstrip("/") != server_url.rstrip("/"):
        return None
    return (
        Endpoint.objects.exclude(status__in=FINAL)
        .filter(pk=endpoint_id, agent_token_hash=hash_token(token))
        .first()
    )


def wait_for_server(base_url: str, timeout: float) -> None:
    """Poll /healthz until the web server responds with any status."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            # Any status counts, such as a 503 while the cluster starts.
            requests.get(f"{base_url}/healthz", timeout=2)
            return
        except requests.RequestException as error:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"the web server at {base_url} did not respond to /healthz within "
                    f"{timeout:g} s ({error}); check that it started"
                ) from None
            time.sleep(0.5)


def agent_environment() -> dict[str, str]:
    """Return this environment with the clone on PYTHONPATH, for `-m agent`."""
    paths = [str(settings.BASE_DIR), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


class Command(BaseCommand):
    help = (
        "Enroll the agent of this machine with EXEC_BASE_URL unless its "
        "configuration is still valid, then replace this process with "
        "`python -m agent run`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--config",
            type=Path,
            default=None,
            help="Agent configuration file; default: var/agent/agent.json.",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=ENROLL_TIMEOUT,
            help="Seconds to wait for the web server before giving up.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config_path: Path = (options["config"] or default_config_path()).resolve()
        server_url = settings.EXEC_BASE_URL
        agent = [sys.executable, "-m", "agent"]

        endpoint = enrolled_endpoint(config_path, server_url)
        if endpoint is None:
            wait_for_server(server_url, options["wait"])
            self._enroll(agent, config_path, server_url)
        else:
            self.stdout.write(
                f"The agent of this machine is enrolled as endpoint {endpoint.pk}."
            )
        self.stdout.flush()

        # The agent replaces this process, so a process manager's stop signal
        # reaches the agent itself. The agent reports `shutdown` only when the
        # operating system is shutting down, not on a plain stop.
        # The agent writes packages into its working folder before uploading
        # them, so that is the configuration's folder under var/, not the clone.
        os.chdir(config_path.parent)
        os.execve(  # noqa: S606 - fixed arguments, no shell involved
            sys.executable,
            [*agent, "run", "--config", str(config_path)],
            agent_environment(),
        )

    def _enroll(self, agent: list[str], config_path: Path, server_url: str) -> None:
        config_path.parent.mkdir(parents=True, exist_ok=True)
        _, token = create_enrollment_token(
            expires=timezone.now() + dt.timedelta(minutes=10),
            max_uses=1,
            label="this machine, enrolled by run_local_agent",
        )
        command = [
            *agent,
            "enroll",
            "--server",
            server_url,
            "--token",
            token,
            "--config",
            str(config_path),
            "--force",
        ]
        result = subprocess.run(
            command,
            cwd=config_path.parent,
            env=agent_environment(),
            timeout=ENROLL_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise CommandError(
                f"enrolling this machine with {server_url} failed (exit code "
                f"{result.returncode}); see the agent's message above"
            )
        self.stdout.write(f"This machine is enrolled; its agent uses {config_path}.")
