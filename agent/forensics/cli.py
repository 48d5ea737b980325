"""`python -m agent collect`: write a forensics package without enrolling."""

import argparse
import sys
from pathlib import Path

from agent.forensics.collect import collect_package, resolve_artifacts
from agent.forensics.runner import ArtifactResult


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent collect",
        description="Collect forensic artifacts of this machine into a zip package.",
    )
    parser.add_argument(
        "--artifacts",
        help="comma-separated artifact names or categories (network, software, "
        "users, system); default: all",
    )
    parser.add_argument(
        "--output", required=True, type=Path, help="path of the zip file to write"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="time limit in seconds for each artifact, replacing its default",
    )
    parser.add_argument(
        "--osquery",
        action="store_true",
        help="read artifacts that have an osquery table through osqueryi when it "
        "is installed (default: native sources only)",
    )
    return parser


def summary_line(result: ArtifactResult) -> str:
    """Format one artifact's outcome as a single line."""
    line = f"{result.name:32} {result.status:18} {len(result.rows):7} rows"
    line += f" {result.duration_ms:6} ms"
    detail = (result.error or {}).get("message") or result.reason
    if detail:
        line += f"  {detail.splitlines()[0]}"
    return line


def main(argv: list[str] | None = None) -> int:
    """Run an offline collection; return 0 when a package was written, else 2."""
    arguments = build_parser().parse_args(argv)
    requested = arguments.artifacts.split(",") if arguments.artifacts else None
    try:
        names = resolve_artifacts(requested)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.output.suffix.lower() != ".zip":
        print(f"error: --output {arguments.output} must end in .zip", file=sys.stderr)
        return 2
    if not arguments.output.parent.is_dir():
        print(
            f"error: directory {arguments.output.parent} does not exist; "
            "create it first",
            file=sys.stderr,
        )
        return 2

    def progress(result: ArtifactResult) -> None:
        print(summary_line(result), flush=True)

    package = collect_package(
        arguments.output,
        names,
        timeout=arguments.timeout,
        on_result=progress,
        use_osquery=arguments.osquery,
    )
    print(f"package {package.path} size={package.size} sha256={package.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
