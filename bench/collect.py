"""Benchmark a full forensics collection: wall time, peak memory, package size.

Each run is a fresh Python process that collects every artifact into a
temporary package, so peak RSS is measured per run: the collecting process
and, separately, its collector worker. Prints the median of the runs.

    .venv/bin/python bench/collect.py --runs 5
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run() -> dict[str, float]:
    """Collect once in this process and measure it."""
    sys.path.insert(0, str(ROOT))
    from agent.forensics.collect import collect_package

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        package = collect_package(Path(folder) / "bench.zip")
        elapsed = time.perf_counter() - started
        rows = sum(entry["row_count"] for entry in package.manifest["artifacts"])
        statuses: dict[str, int] = {}
        for entry in package.manifest["artifacts"]:
            statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
    # ru_maxrss is in KiB on Linux.
    return {
        "seconds": elapsed,
        "package_bytes": package.size,
        "rows": rows,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        / 1024,
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="number of collections")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(one_run()))
        return

    results = []
    for _ in range(arguments.runs):
        output = subprocess.run(
            [sys.executable, __file__, "--child"],
            capture_output=True,
            check=True,
            text=True,
            cwd=ROOT,
        )
        results.append(json.loads(output.stdout.strip().splitlines()[-1]))
    for key in (
        "seconds",
        "peak_rss_mib",
        "worker_peak_rss_mib",
        "package_bytes",
        "rows",
    ):
        values = [r[key] for r in results]
        print(
            f"{key:20} median {statistics.median(values):12.3f}"
            f"  min {min(values):12.3f}  max {max(values):12.3f}"
        )
    print(f"{'statuses':20} {results[-1]['statuses']}")


if __name__ == "__main__":
    main()
