"""Measure steady-state check-ins per second under gunicorn on PostgreSQL.

    python bench/checkins.py --endpoints 500 --runs 5 --seconds 10

Fills the exec_bench database with agent endpoints, serves Exec with
gunicorn on 127.0.0.1, and posts check-ins from a separate client process
with several threads, each endpoint reporting the same facts and users every
time, as a fleet does between changes. Every run is bounded by --seconds and
--max-requests; gunicorn is stopped at the end, also on errors.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import closing

from common import ROOT, database_url, median, setup_django

BODY = json.dumps(
    {
        "agent_version": "0.1.0",
        "users": [{"username": "CORP\\bench", "logged_in": True}],
        "event": None,
    }
).encode()


def server_cpu_seconds(gunicorn: subprocess.Popen) -> dict[int, float]:
    """Return the CPU time used so far by gunicorn and the exec_bench backends.

    Keyed by process id, because gunicorn and PostgreSQL replace processes
    while the benchmark runs. The difference over a run divided by the
    check-ins served is the cost of one check-in on this machine, however
    busy other programs keep its cores.
    """
    import psutil

    processes = [psutil.Process(gunicorn.pid)]
    processes += processes[0].children(recursive=True)
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if cmdline.startswith("postgres: ") and " exec_bench " in cmdline:
            processes.append(process)

    used = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[process.pid] = times.user + times.system
    return used


def cpu_used_between(before: dict[int, float], after: dict[int, float]) -> float:
    """Sum the CPU time used between two readings by the processes alive at the end.

    A process that exits during the run is missed, so this is a lower bound.
    """
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_endpoints(count: int) -> list[str]:
    """Replace the benchmark's endpoints with `count` fresh ones; return tokens."""
    from django.utils import timezone

    from endpoints.models import Endpoint, EndpointUser, hash_token, new_token

    EndpointUser.objects.all().delete()
    Endpoint.objects.all().delete()
    tokens = [new_token("agt") for _ in range(count)]
    Endpoint.objects.bulk_create(
        Endpoint(
            hostname=f"bench-{number}",
            platform="linux",
            machine_id=f"bench-{number}",
            source_id=f"bench-{number}",
            agent_version="0.1.0",
            last_seen=timezone.now(),
            agent_token_hash=hash_token(token),
        )
        for number, token in enumerate(tokens)
    )
    return tokens


def post_checkin(port: int, token: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            "/api/v1/agent/checkin",
            body=BODY,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def client_process(
    port: int,
    tokens: list[str],
    threads: int,
    seconds: float,
    max_requests: int,
    results: "multiprocessing.Queue[dict[str, int | float]]",
) -> None:
    """Post check-ins from `threads` threads until time or the request cap runs out."""
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}
    deadline = time.monotonic() + seconds

    def agent_loop(offset: int) -> None:
        index = offset
        while time.monotonic() < deadline:
            with lock:
                if counts["ok"] + counts["failed"] >= max_requests:
                    return
            try:
                status = post_checkin(port, tokens[index % len(tokens)])
            except OSError:
                status = 0
            with lock:
                counts["ok" if status == 200 else "failed"] += 1
            index += threads

    started = time.monotonic()
    workers = [
        threading.Thread(target=agent_loop, args=(offset,)) for offset in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    results.put({**counts, "elapsed": time.monotonic() - started})


def start_gunicorn(port: int, workers: int) -> subprocess.Popen:
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DATABASE_URL": database_url("postgres"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "EXEC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "EXEC_SECURE_SSL_REDIRECT": "0",
        "EXEC_SECURE_COOKIES": "0",
        "EXEC_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "exec_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def wait_ready(port: int, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if post_checkin(port, token) == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(
        f"gunicorn did not respond on 127.0.0.1:{port} within {timeout} s; "
        "run gunicorn by hand to see its error"
    )


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0, help="Per run.")
    parser.add_argument("--max-requests", type=int, default=100_000, help="Per run.")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
    parser.add_argument("--threads", type=int, default=16, help="Client threads.")
    args = parser.parse_args()

    setup_django("postgres")
    tokens = make_endpoints(args.endpoints)
    port = free_port()
    server = start_gunicorn(port, args.workers)
    rates = []
    costs = []
    try:
        wait_ready(port, tokens[0])
        # One check-in each records the users, so the runs see the steady state.
        for token in tokens:
            post_checkin(port, token)

        context = multiprocessing.get_context("spawn")
        for run in range(1, args.runs + 1):
            results = context.Queue()
            client = context.Process(
                target=client_process,
                args=(
                    port,
                    tokens,
                    args.threads,
                    args.seconds,
                    args.max_requests,
                    results,
                ),
            )
            cpu_before = server_cpu_seconds(server)
            client.start()
            outcome = results.get(timeout=args.seconds + 60)
            client.join(timeout=30)
            used = cpu_used_between(cpu_before, server_cpu_seconds(server))
            cost = used / max(outcome["ok"], 1)
            rate = outcome["ok"] / outcome["elapsed"]
            rates.append(rate)
            costs.append(cost)
            print(
                f"run {run}: {outcome['ok']} check-ins in {outcome['elapsed']:.1f} s "
                f"= {rate:.0f}/s, {outcome['failed']} failed, "
                f"server CPU {cost * 1000:.2f} ms per check-in"
            )
    finally:
        stop(server)
    print(
        f"median {median(rates):.0f} check-ins/s over {args.runs} runs "
        f"({args.workers} gunicorn workers, {args.threads} client threads, "
        f"{args.endpoints} endpoints); server CPU {median(costs) * 1000:.2f} ms "
        f"per check-in, load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
