import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from audit.chain import EventData, append_many
from audit.models import AuditEvent
from audit.timeline import PAGE_SIZE, safe_cell
from exec_site.events import record_event

pytestmark = pytest.mark.django_db

TIMELINE = reverse("audit:timeline")


def _events(count: int, **fields) -> None:
    append_many([EventData(summary=f"event {n}", **fields) for n in range(count)])


def _sequences(response) -> list[int]:
    return [event.sequence for event, _ in response.context["entries"]]


def _csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_timeline_lists_newest_first(client, auditor):
    _events(3, kind="test.ping")
    client.force_login(auditor)

    response = client.get(TIMELINE)

    assert response.status_code == 200
    assert _sequences(response)[:3] == sorted(_sequences(response), reverse=True)[:3]
    assert b"test.ping" in response.content


def test_timeline_pages_with_bounded_queries(
    client, auditor, django_assert_num_queries
):
    _events(PAGE_SIZE * 2 + 5, kind="test.ping")
    client.force_login(auditor)

    # Session, user, user permissions, group permissions, then one page query.
    with django_assert_num_queries(5):
        first = client.get(TIMELINE)
    older = first.context["page"].older
    with django_assert_num_queries(5):
        second = client.get(TIMELINE, {"before": older})
    with django_assert_num_queries(5):
        back = client.get(TIMELINE, {"after": second.context["page"].newer})

    assert len(_sequences(first)) == PAGE_SIZE
    assert _sequences(second)[0] == _sequences(first)[-1] - 1
    assert _sequences(back) == _sequences(first)


def test_timeline_query_count_with_every_filter(
    client, auditor, django_assert_num_queries
):
    _events(10, kind="test.ping", endpoint_id=4, playbook_id=2, run_id=9)
    client.force_login(auditor)
    today = datetime.now(UTC).date()
    filters = {
        "since": today - timedelta(days=1),
        "until": today,
        "actor": "automation",
        "kind": "test.ping",
        "endpoint": 4,
        "playbook": 2,
        "run": 9,
    }

    with django_assert_num_queries(5):
        response = client.get(TIMELINE, filters)

    assert len(_sequences(response)) == 10


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": "test.a"}, {"a1", "a2"}),
        ({"actor": "agent:7"}, {"b1"}),
        ({"endpoint": 3}, {"a2", "b1"}),
        ({"playbook": 5}, {"a1"}),
        ({"run": 11}, {"a1"}),
        ({"kind": "test.a", "endpoint": 3}, {"a2"}),
    ],
)
def test_timeline_filters(client, auditor, filters, expected):
    append_many(
        [
            EventData("test.a", "a1", playbook_id=5, run_id=11),
            EventData("test.a", "a2", endpoint_id=3),
            EventData("test.b", "b1", actor="agent:7", endpoint_id=3),
        ]
    )
    client.force_login(auditor)

    response = client.get(TIMELINE, filters)

    summaries = {event.summary for event, _ in response.context["entries"]}
    assert summaries == expected


def test_timeline_period_uses_viewer_zone(client, request):
    # 23:30 UTC on 1 March is already 2 March in Tokyo. The auditor is made
    # afterwards, because times along the chain never go backwards.
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    append_many([EventData("test.late", "late")], now=late)
    append_many([EventData("test.next", "next")], now=late + timedelta(hours=12))
    client.force_login(request.getfixturevalue("auditor"))

    in_utc = client.get(TIMELINE, {"since": "2026-03-01", "until": "2026-03-01"})
    in_tokyo = client.get(
        TIMELINE, {"since": "2026-03-02", "until": "2026-03-02", "tz": "Asia/Tokyo"}
    )

    assert {e.summary for e, _ in in_utc.context["entries"]} == {"late"}
    assert {e.summary for e, _ in in_tokyo.context["entries"]} == {"late", "next"}
    assert in_tokyo.cookies["exec_tz"].value == "Asia/Tokyo"
    assert b"JST" in in_tokyo.content


def test_timeline_period_without_events_is_empty(client, auditor):
    _events(3, kind="test.ping")
    client.force_login(auditor)

    response = client.get(TIMELINE, {"since": "2001-01-01", "until": "2001-01-02"})

    assert response.context["entries"] == []


def test_timeline_rejects_bad_filters(client, auditor):
    client.force_login(auditor)

    bad_date = client.get(TIMELINE, {"since": "yesterday"})
    reversed_period = client.get(
        TIMELINE, {"since": "2026-02-02", "until": "2026-02-01"}
    )
    bad_cursor = client.get(TIMELINE, {"before": "x1"})

    assert bad_date.status_code == 400
    assert b"Enter a valid date" in bad_date.content
    assert reversed_period.status_code == 400
    assert b"on or after the first day" in reversed_period.content
    assert bad_cursor.status_code == 400


def test_timeline_links_to_the_subject(client, auditor, responder):
    record_event("test.user", "about rick", subject=responder)
    client.force_login(auditor)

    response = client.get(TIMELINE, {"kind": "test.user"})

    [(_, url)] = response.context["entries"]
    assert url == reverse("admin:auth_user_change", args=[responder.pk])
    assert url.encode() in response.content


def test_export_csv_matches_the_filtered_timeline(client, auditor):
    append_many(
        [EventData("test.keep", f"keep {n}", endpoint_id=1) for n in range(3)]
        + [EventData("test.drop", "drop", endpoint_id=2)]
    )
    client.force_login(auditor)

    page = client.get(TIMELINE, {"endpoint": 1})
    response = client.get(reverse("audit:export-csv"), {"endpoint": 1})

    rows = _csv_rows(response)
    assert response["Content-Type"] == "text/csv"
    assert [int(row["sequence"]) for row in rows] == _sequences(page)
    assert {row["summary"] for row in rows} == {"keep 0", "keep 1", "keep 2"}
    assert all(len(row["hash"]) == 64 for row in rows)


def test_export_json_matches_and_is_recorded(client, auditor):
    _events(4, kind="test.ping")
    client.force_login(auditor)

    response = client.get(reverse("audit:export-json"), {"kind": "test.ping"})

    document = json.loads(b"".join(response.streaming_content))
    expected = list(
        AuditEvent.objects.filter(kind="test.ping").values_list("sequence", flat=True)
    )
    assert [row["sequence"] for row in document["events"]] == expected
    assert len(expected) == 4
    assert document["export"]["filters"] == {"kind": "test.ping"}
    exported = AuditEvent.objects.get(kind="audit.exported")
    assert exported.actor_id == auditor.pk
    assert exported.details["format"] == "json"
    assert exported.details["up_to_sequence"] == exported.sequence - 1


def test_export_leaves_out_its_own_event(client, auditor):
    _events(2, kind="test.ping")
    client.force_login(auditor)

    response = client.get(reverse("audit:export-csv"))

    kinds = [row["kind"] for row in _csv_rows(response)]
    assert kinds[0] == "auth.login"
    assert kinds.count("test.ping") == 2
    assert "audit.exported" not in kinds
    assert AuditEvent.objects.filter(kind="audit.exported").count() == 1


def test_export_cells_are_formula_safe(client, auditor):
    record_event(
        "test.formula", '=HYPERLINK("http://127.0.0.1/x","y")', actor="agent:1"
    )
    client.force_login(auditor)

    response = client.get(reverse("audit:export-csv"), {"kind": "test.formula"})

    [row] = _csv_rows(response)
    assert row["summary"].startswith("'=")


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_safe_cell_quotes_formulas(text):
    assert safe_cell(text) == "'" + text


def test_safe_cell_keeps_plain_text():
    assert safe_cell("Isolated host-1") == "Isolated host-1"
    assert safe_cell(None) == ""
    assert safe_cell({"b": 1, "a": "=x"}) == '{"a": "=x", "b": 1}'


def test_export_rejects_bad_filters(client, auditor):
    client.force_login(auditor)

    response = client.get(reverse("audit:export-csv"), {"endpoint": "zero"})

    assert response.status_code == 400
    assert b"endpoint" in response.content
    assert not AuditEvent.objects.filter(kind="audit.exported").exists()


def test_base_template_has_landmarks_and_hook(client, auditor):
    client.force_login(auditor)

    content = client.get(TIMELINE).content.decode()

    assert '<main id="content"' in content
    assert '<nav aria-label="Main">' in content
    assert 'href="#content"' in content
    assert '<label for="id_kind">' in content
    assert "http://" not in content.split("<main")[0]
