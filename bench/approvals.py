"""Time the approval inbox and the expiry sweep with many pending requests.

Runs against a fresh SQLite database in a temporary folder, or against
DATABASE_URL when it is set. Usage: `python bench/approvals.py 500 5000`.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("EXEC_VAR_DIR", tempfile.mkdtemp(prefix="exec-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exec_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from approvals import actions, notify  # noqa: E402
from approvals.models import ApprovalRequest  # noqa: E402
from approvals.tests.factories import bulk_pending  # noqa: E402
from endpoints.models import Endpoint, EndpointUser  # noqa: E402
from playbooks import engine  # noqa: E402
from playbooks.models import Playbook, PlaybookRun, StepRun  # noqa: E402

RUNS = 5


def timed(function, runs: int = RUNS) -> float:
    """Return the median wall time of `runs` calls, in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def fetch(client: Client, path: str) -> None:
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} returned {response.status_code}")


def main(sizes: list[int]) -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    approver = User.objects.create_user("bench-approver")
    approver.groups.add(Group.objects.get(name="Approvers"))
    starter = User.objects.create_user("bench-starter")
    endpoint = Endpoint.objects.create(
        hostname="bench-01", platform="linux", source_id="bench-01"
    )
    user = EndpointUser.objects.create(endpoint=endpoint, username="jdoe", name="jdoe")
    playbook = Playbook.objects.create(name="Bench", target_kind="user")
    client = Client()
    client.force_login(approver)
    # The sweep resumes runs, which would queue steps; nothing runs them here.
    engine.resume_after_approval = lambda *args, **kwargs: True
    notify.enqueue = lambda *args: None

    for size in sizes:
        ApprovalRequest.objects.all().delete()
        StepRun.objects.all().delete()
        PlaybookRun.objects.all().delete()
        bulk_pending(playbook, user, size, started_by=starter)

        inbox = timed(lambda: fetch(client, "/approvals/"))
        api = timed(lambda: fetch(client, "/api/v1/approvals/?status=pending"))
        later = timezone.now() + timezone.timedelta(days=2)
        start = time.perf_counter()
        counts = actions.sweep(later)
        sweep = (time.perf_counter() - start) * 1000
        print(
            f"pending={size} inbox_ms={inbox:.1f} api_list_ms={api:.1f} "
            f"sweep_ms={sweep:.0f} expired={counts['expired']} "
            f"sweep_ms_per_request={sweep / size:.2f}"
        )


if __name__ == "__main__":
    main([int(size) for size in sys.argv[1:]] or [500, 5000])
