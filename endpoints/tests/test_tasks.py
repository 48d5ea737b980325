from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.tasks import async_task

from endpoints.models import Endpoint, StatusChange
from exec_site.testing import wait_until


@pytest.mark.django_db(transaction=True)
def test_sweep_task_runs_in_cluster(task_cluster, make_endpoint):
    silent, _ = make_endpoint(last_seen=timezone.now() - timedelta(minutes=10))
    fresh, _ = make_endpoint(last_seen=timezone.now())

    async_task("endpoints.tasks.sweep_endpoints")

    wait_until(
        lambda: Endpoint.objects.get(pk=silent.pk).status == "offline", timeout=60
    )
    fresh.refresh_from_db()
    assert fresh.status == "online"
    change = StatusChange.objects.get()
    assert (change.endpoint_id, change.reason) == (silent.pk, "sweep")
