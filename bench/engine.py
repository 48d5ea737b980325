"""Benchmark the run engine: detection-to-first-step latency and ingest rate.

    python bench/engine.py [--posts 40] [--ingest 10000] [--brokers orm,redis]

Each scenario runs in a child process with a fresh SQLite database in a
temporary folder, so the broker setting (REDIS_URL or the ORM broker) can
differ between them. Latency scenarios start a real `qcluster` with two
workers; the Redis scenario uses REDIS_URL (default redis://127.0.0.1:6379/0)
with a queue name of its own. Results are printed as JSON lines.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def configure(var_dir: str, broker: str) -> None:
    """Point Django at a fresh database in `var_dir`, migrate it and set the broker."""
    os.environ["EXEC_VAR_DIR"] = var_dir
    os.environ["DATABASE_URL"] = f"sqlite:///{var_dir}/bench.sqlite3"
    os.environ["EXEC_QUEUE_NAME"] = f"bench-engine-{uuid.uuid4().hex[:8]}"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = "exec_site.settings"
    if broker == "redis":
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    else:
        os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def source_client() -> Any:
    from django.contrib.auth.models import Permission, User
    from django.test import Client
    from rest_framework.authtoken.models import Token

    user = User.objects.create_user("bench-siem")
    user.user_permissions.add(Permission.objects.get(codename="add_detection"))
    token = Token.objects.create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def document(number: int, hostname: str = "bench-host") -> dict[str, Any]:
    return {
        "external_id": f"bench-{number}",
        "id": f"bench-{number}",
        "title": f"Suspicious process {number % 50}",
        "severity": ["low", "medium", "high"][number % 3],
        "occurred": "2026-12-01T10:00:00Z",
        "timestamp": "2026-12-01T10:00:00Z",
        "hostname": hostname,
        "username": "CORP\\bench",
    }


def post(client: Any, body: str) -> Any:
    response = client.post(
        "/api/v1/detections/generic/", body, content_type="application/json"
    )
    if response.status_code not in (200, 201):
        raise SystemExit(
            f"detection POST failed: {response.status_code} {response.content!r}"
        )
    return response


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


def latency(broker: str, posts: int) -> dict[str, Any]:
    """Time from the detection POST to the claim of the run's first step."""
    from endpoints.models import Endpoint
    from playbooks.models import Playbook, Step, StepRun

    Endpoint.objects.create(hostname="bench-host", platform="linux", source_id="b1")
    playbook = Playbook.objects.create(
        name="Tag on detection", trigger_type="detection", max_concurrent_runs=0
    )
    Step.objects.create(
        playbook=playbook,
        order=1,
        action="endpoint.add_tag",
        parameters={"tag": "bench"},
    )
    client = source_client()

    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**os.environ, "EXEC_WORKERS": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        samples = []
        for number in range(posts + 3):
            started_at = time.time()
            response = post(client, json.dumps(document(number)))
            run_id = response.json()["runs"][0]
            deadline = time.monotonic() + 30
            claimed = None
            while claimed is None and time.monotonic() < deadline:
                claimed = (
                    StepRun.objects.filter(run_id=run_id, order=1)
                    .values_list("started", flat=True)
                    .first()
                )
                if claimed is None:
                    time.sleep(0.005)
            if claimed is None:
                raise SystemExit(f"run {run_id}: first step not started after 30 s")
            # The first posts warm up the cluster's workers and are not counted.
            if number >= 3:
                samples.append(claimed.timestamp() - started_at)
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=10)
    return {
        "scenario": "detection_to_first_step",
        "broker": broker,
        "posts": posts,
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "p95_ms": round(percentile(samples, 0.95) * 1000, 1),
    }


def ingest(count: int, playbooks: int, batch: int = 100) -> dict[str, Any]:
    """Post `count` detections in NDJSON batches; no playbook matches them."""
    from endpoints.models import Endpoint
    from playbooks.models import Detection, Playbook, PlaybookRun, Step

    for number in range(200):
        Endpoint.objects.create(
            hostname=f"bench-{number}", platform="windows", source_id=f"b{number}"
        )
    for number in range(playbooks):
        playbook = Playbook.objects.create(
            name=f"Critical playbook {number}",
            trigger_type="detection",
            conditions=[
                {"field": "detection.severity", "operator": "eq", "value": "critical"},
                {"field": "endpoint.tags", "operator": "contains", "value": "vip"},
            ],
        )
        Step.objects.create(
            playbook=playbook,
            order=1,
            action="endpoint.add_tag",
            parameters={"tag": "x"},
        )
    client = source_client()

    started = time.perf_counter()
    for first in range(0, count, batch):
        lines = (
            json.dumps(document(n, f"bench-{n % 200}"))
            for n in range(first, min(count, first + batch))
        )
        post(client, "\n".join(lines))
    seconds = time.perf_counter() - started

    assert Detection.objects.count() == count
    assert PlaybookRun.objects.count() == 0
    return {
        "scenario": "ingest",
        "detections": count,
        "enabled_playbooks": playbooks,
        "batch": batch,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds),
    }


def child(arguments: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="exec-bench-") as var_dir:
        configure(var_dir, arguments.broker)
        if arguments.scenario == "latency":
            result = latency(arguments.broker, arguments.posts)
        else:
            result = ingest(arguments.ingest, arguments.playbooks)
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--posts", type=int, default=40, help="Timed detection posts per broker."
    )
    parser.add_argument(
        "--ingest", type=int, default=10_000, help="Detections per ingest run."
    )
    parser.add_argument(
        "--brokers", default="orm,redis", help="Comma-separated: orm, redis."
    )
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each scenario.")
    parser.add_argument(
        "--scenario", choices=["latency", "ingest"], help=argparse.SUPPRESS
    )
    parser.add_argument("--broker", default="orm", help=argparse.SUPPRESS)
    parser.add_argument("--playbooks", type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.scenario:
        child(arguments)
        return

    runs = []
    for broker in arguments.brokers.split(","):
        runs += [
            [
                "--scenario",
                "latency",
                "--broker",
                broker,
                "--posts",
                str(arguments.posts),
            ]
        ] * arguments.repeat
    for playbooks in (0, 10):
        runs += [
            [
                "--scenario",
                "ingest",
                "--playbooks",
                str(playbooks),
                "--ingest",
                str(arguments.ingest),
            ]
        ] * arguments.repeat
    for extra in runs:
        subprocess.run([sys.executable, __file__, *extra], check=True)


if __name__ == "__main__":
    main()
