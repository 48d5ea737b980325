"""The health check that load balancers and operators poll."""

import logging
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers import get_broker
from django_q.status import Stat

logger = logging.getLogger(__name__)


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "vendor": connection.vendor}


def check_broker() -> dict[str, Any]:
    broker = get_broker()
    # The ORM broker's ping() returns True without a query, so ask it for the
    # queue size, which reads its table.
    queued = broker.queue_size()
    broker.ping()
    clusters = Stat.get_all(broker=broker)
    return {
        "status": "ok",
        "broker": broker.info(),
        "queued": queued,
        "clusters": len(clusters),
        "workers": sum(len(cluster.workers) for cluster in clusters),
    }


CHECKS = {"database": check_database, "broker": check_broker}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Report whether the database and the task broker respond: 200 or 503."""
    report: dict[str, Any] = {}
    failing = []
    for name, check in CHECKS.items():
        try:
            report[name] = check()
        # Any failure of a dependency, whatever its type, makes Exec unhealthy.
        except Exception as error:
            logger.warning("health check failed check=%s error=%s", name, error)
            report[name] = {
                "status": "error",
                "error": str(error) or type(error).__name__,
            }
            failing.append(name)

    report["status"] = "ok" if not failing else "error"
    if failing:
        report["failing"] = failing
    elif report["broker"]["clusters"] == 0:
        # Clusters may run on other hosts and restart at any time, so their
        # absence is a warning rather than a failure of this web server.
        report["warnings"] = ["no task cluster is running; start `manage.py qcluster`"]
    return JsonResponse(report, status=503 if failing else 200)
