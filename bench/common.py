"""Set-up shared by the benchmarks: a database of their own and Django."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/exec_bench"


def database_url(vendor: str) -> str:
    """Return the benchmark database's URL; never the one Exec or the tests use."""
    if vendor == "postgres":
        return POSTGRES_URL
    return f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"


def ensure_postgres_database() -> None:
    """Create the exec_bench database on the local server if it is missing."""
    import psycopg

    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'exec_bench'"
        ).fetchone()
        if not exists:
            connection.execute("CREATE DATABASE exec_bench")


def setup_django(vendor: str) -> None:
    """Point Django at the benchmark database, migrate it and set it up."""
    if vendor == "postgres":
        ensure_postgres_database()
    os.environ["DATABASE_URL"] = database_url(vendor)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exec_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
