"""The agent is independent of the server, and the task queue settings are safe."""

import ast
from pathlib import Path

from django.conf import settings

AGENT_DIR = Path(settings.BASE_DIR) / "agent"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_agent_imports_nothing_of_the_server():
    server_packages = {
        "django",
        "rest_framework",
        "exec_site",
        "endpoints",
        "playbooks",
        "identities",
        "approvals",
        "connectors",
        "forensics",
        "audit",
        "django_q",
        "guardian",
        "auditlog",
    }
    sources = list(AGENT_DIR.rglob("*.py"))

    assert sources
    for source in sources:
        assert not imported_modules(source) & server_packages, source


def test_task_timeout_is_below_retry():
    cluster = settings.Q_CLUSTER

    assert cluster["timeout"] < cluster["retry"]
    assert cluster["max_attempts"] > 0
    assert cluster["catch_up"] is False
