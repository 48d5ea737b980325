"""Upload throughput of a large forensics package, and the server's peak memory.

Runs gunicorn (one sync worker) on 127.0.0.1 against a throw-away SQLite
database and media folder. Uploads a package of about 200 MiB several times
over a real socket. Prints the wall time, the throughput and the worker's
resident memory before and during each upload, then their medians.

    .venv/bin/python bench/upload.py [--size-mib 200] [--runs 3]
"""

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
# A token for the throw-away benchmark endpoint only.
TOKEN = "agt_benchmark-upload-token"  # noqa: S105
CHUNK = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup_django(var_dir: Path) -> None:
    os.environ["EXEC_VAR_DIR"] = str(var_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exec_site.settings")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_task(endpoint_id: int | None) -> tuple[int, int]:
    """Create the endpoint on first use and one agent task; return both ids."""
    from django.utils import timezone

    from endpoints.models import AgentTask, Endpoint, hash_token

    if endpoint_id is None:
        endpoint = Endpoint.objects.create(
            hostname="bench01",
            platform="linux",
            source_id="bench01",
            agent_token_hash=hash_token(TOKEN),
        )
        endpoint_id = endpoint.pk
    task = AgentTask.objects.create(
        endpoint_id=endpoint_id,
        type="collect_forensics",
        status="running",
        expires=timezone.now() + timedelta(hours=1),
    )
    return endpoint_id, task.pk


def write_raw(path: Path, size: int) -> str:
    """Write `size` random bytes, which do not compress, and return their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as target:
        remaining = size
        while remaining:
            chunk = os.urandom(min(CHUNK, remaining))
            digest.update(chunk)
            target.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def listing(path: str, data: bytes) -> dict:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_package(target: Path, raw: Path, raw_sha256: str, run: int) -> str:
    """Write a package with one artifact and a large raw member; return its SHA-256."""
    rows = [{"pid": pid, "name": f"process-{pid}"} for pid in range(1000)]
    document = json.dumps({"artifact": "system.processes", "rows": rows}).encode()
    table = "pid,name\n" + "".join(f"{r['pid']},{r['name']}\n" for r in rows)
    members = {
        "artifacts/system.processes.json": document,
        "artifacts/system.processes.csv": table.encode(),
    }
    raw_name = "raw/memory/sample.bin"
    manifest = {
        "schema_version": "1.0",
        "package_id": f"bench-{run}-{time.time_ns()}",
        "collector": {"name": "bench", "version": "0"},
        "endpoint": {"hostname": "bench01"},
        "started_utc": "2026-12-04T15:30:01Z",
        "finished_utc": "2026-12-04T15:30:02Z",
        "artifacts": [
            {
                "name": "system.processes",
                "status": "ok",
                "row_count": len(rows),
                "files": [listing(path, data) for path, data in members.items()],
                "error": None,
            }
        ],
        "members": [
            {"path": raw_name, "size": raw.stat().st_size, "sha256": raw_sha256}
        ],
    }
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            archive.writestr(path, data)
        archive.write(raw, raw_name, compress_type=zipfile.ZIP_STORED)
        archive.writestr("manifest.json", json.dumps(manifest))

    digest = hashlib.sha256()
    with open(target, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class PeakMemory:
    """Sample the resident memory of a process and its children until stopped."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.idle = self.current()
        self.peak = self.idle
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def current(self) -> int:
        """Return the largest resident memory among the server's workers."""
        sizes = [0]
        for process in self.process.children(recursive=True):
            try:
                sizes.append(process.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        return max(sizes)

    def sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.current())
            time.sleep(0.02)

    def __enter__(self) -> "PeakMemory":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


def start_server(var_dir: Path, port: int) -> subprocess.Popen:
    log = open(var_dir / "gunicorn.log", "w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "exec_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "600",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except requests.ConnectionError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(
        f"gunicorn did not start within 30 s; see {var_dir / 'gunicorn.log'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exec-bench-") as folder:
        var_dir = Path(folder)
        setup_django(var_dir)
        raw = var_dir / "raw.bin"
        raw_sha256 = write_raw(raw, options.size_mib * CHUNK)
        port = free_port()
        server = start_server(var_dir, port)
        endpoint_id = None
        results = []
        try:
            for run in range(options.runs):
                package = var_dir / "package.zip"
                digest = write_package(package, raw, raw_sha256, run)
                endpoint_id, task_id = make_task(endpoint_id)
                size = package.stat().st_size
                with PeakMemory(server.pid) as memory, open(package, "rb") as body:
                    started = time.monotonic()
                    response = requests.post(
                        f"http://127.0.0.1:{port}/api/v1/agent/tasks/{task_id}/upload",
                        data=body,
                        headers={
                            "Authorization": f"Bearer {TOKEN}",
                            "Content-Type": "application/zip",
                            "X-Content-SHA256": digest,
                        },
                        timeout=600,
                    )
                    seconds = time.monotonic() - started
                if response.status_code != 201:
                    raise SystemExit(
                        f"upload failed: {response.status_code} {response.text}"
                    )
                results.append((seconds, size, memory.peak, memory.idle))
                print(
                    f"run {run + 1}: {size / CHUNK:.1f} MiB in {seconds:.2f} s "
                    f"({size / CHUNK / seconds:.1f} MiB/s), worker RSS "
                    f"{memory.idle / CHUNK:.1f} MiB before, peak "
                    f"{memory.peak / CHUNK:.1f} MiB"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)

    seconds = statistics.median(r[0] for r in results)
    size = results[0][1]
    peak = statistics.median(r[2] for r in results)
    idle = statistics.median(r[3] for r in results)
    print(
        f"median of {len(results)}: {seconds:.2f} s, "
        f"{size / CHUNK / seconds:.1f} MiB/s, worker RSS {idle / CHUNK:.1f} MiB "
        f"before, peak {peak / CHUNK:.1f} MiB"
    )


if __name__ == "__main__":
    main()
