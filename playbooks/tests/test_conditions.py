import datetime as dt

import pytest

from endpoints.models import Endpoint, Tag
from playbooks.conditions import (
    endpoint_filter,
    matches,
    parse_time,
    validate_conditions,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
EVENT = {
    "detection": {
        "severity": "high",
        "title": "Mimikatz credential dumping",
        "file_path": "C:\\Users\\jdoe\\AppData\\Local\\Temp\\m.exe",
        "username": "",
        "occurred": NOW - dt.timedelta(minutes=5),
        "mitre_technique": "T1003",
    },
    "endpoint": {
        "hostname": "WS-042",
        "tags": ["finance", "laptop"],
        "status": "online",
    },
    "user": None,
}


def condition(field, operator, value=None):
    item = {"field": field, "operator": operator}
    if value is not None:
        item["value"] = value
    return item


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (condition("detection.severity", "eq", "high"), True),
        (condition("detection.severity", "eq", "low"), False),
        (condition("detection.severity", "ne", "low"), True),
        (condition("detection.severity", "ne", "high"), False),
        (condition("detection.severity", "in", ["high", "critical"]), True),
        (condition("detection.severity", "in", ["low"]), False),
        (condition("detection.severity", "not_in", ["low"]), True),
        (condition("detection.severity", "not_in", ["high"]), False),
        (condition("detection.title", "contains", "MIMIKATZ"), True),
        (condition("detection.title", "contains", "psexec"), False),
        (condition("endpoint.tags", "contains", "finance"), True),
        (condition("endpoint.tags", "contains", "fin"), False),
        (condition("endpoint.hostname", "startswith", "ws-"), True),
        (condition("endpoint.hostname", "startswith", "srv-"), False),
        (condition("detection.file_path", "endswith", ".EXE"), True),
        (condition("detection.file_path", "endswith", ".dll"), False),
        (condition("detection.mitre_technique", "regex", r"^T10\d\d$"), True),
        (condition("detection.mitre_technique", "regex", r"^T15"), False),
        (condition("detection.severity", "gte", "high"), True),
        (condition("detection.severity", "gte", "critical"), False),
        (condition("detection.severity", "lte", "high"), True),
        (condition("detection.severity", "lte", "medium"), False),
        (condition("detection.occurred", "gte", "now-10m"), True),
        (condition("detection.occurred", "lte", "now-10m"), False),
        (condition("detection.title", "exists"), True),
        (condition("detection.username", "exists"), False),
        (condition("detection.username", "exists", False), True),
        (condition("user.username", "exists"), False),
        (condition("user.username", "eq", "jdoe"), False),
    ],
)
def test_check_operator(item, expected):
    assert matches([item], "all", EVENT, NOW) is expected


def test_matches_all_and_any():
    yes = condition("detection.severity", "eq", "high")
    no = condition("endpoint.status", "eq", "missing")

    assert matches([yes, no], "all", EVENT, NOW) is False
    assert matches([yes, no], "any", EVENT, NOW) is True
    assert matches([], "all", EVENT, NOW) is True


def test_parse_time_relative_and_absolute():
    assert parse_time("now", NOW) == NOW
    assert parse_time("now-30d", NOW) == NOW - dt.timedelta(days=30)
    assert parse_time("now+2h", NOW) == NOW + dt.timedelta(hours=2)
    assert parse_time("now-1w", NOW) == NOW - dt.timedelta(weeks=1)
    assert parse_time("2026-01-31T08:00:00Z", NOW) == dt.datetime(
        2026, 1, 31, 8, tzinfo=dt.UTC
    )
    with pytest.raises(ValueError, match="invalid time"):
        parse_time("yesterday", NOW)
    with pytest.raises(ValueError, match="with an offset"):
        parse_time("2026-01-31T08:00:00", NOW)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            condition("detection.colour", "eq", "x"),
            "unknown field path 'detection.colour'",
        ),
        (condition("status_change.at", "eq", "x"), "unknown field path"),
        (condition("detection.title", "like", "x"), "unknown operator 'like'"),
        (condition("detection.title", "regex", "(unclosed"), "invalid regex"),
        (condition("detection.title", "in", "high"), "needs a list value"),
        (condition("detection.title", "eq"), "needs a value"),
        (condition("detection.severity", "gte", "severe"), "invalid severity"),
        (condition("detection.occurred", "gte", "last week"), "invalid time"),
        (
            {"field": "detection.title", "operator": "eq", "value": 1, "x": 2},
            "unknown keys",
        ),
    ],
)
def test_validate_conditions_names_problem(item, message):
    ok = condition("detection.severity", "eq", "high")

    errors = validate_conditions([ok, item], "detection")

    assert len(errors) == 1
    assert errors[0].index == 1
    assert str(errors[0]).startswith("condition 2: ")
    assert message in str(errors[0])


def test_validate_conditions_roots_follow_trigger():
    status = [condition("status_change.new_status", "eq", "offline")]

    assert validate_conditions(status, "endpoint_status") == []
    assert validate_conditions(status, "detection") != []
    assert validate_conditions("x", "detection")[0].index == 0


@pytest.mark.django_db
def test_endpoint_filter_missing_for_30_days():
    def make(name, status, days):
        return Endpoint.objects.create(
            hostname=name,
            platform="windows",
            source_id=name,
            status=status,
            last_seen=NOW - dt.timedelta(days=days),
        )

    stale = make("stale", "missing", 45)
    make("recent", "missing", 10)
    make("online", "online", 45)
    conditions = [
        condition("endpoint.status", "eq", "missing"),
        condition("endpoint.last_seen", "lte", "now-30d"),
    ]

    found = Endpoint.objects.filter(endpoint_filter(conditions, "all", NOW))

    assert list(found) == [stale]


@pytest.mark.django_db
def test_endpoint_filter_operators_and_any():
    laptop = Endpoint.objects.create(hostname="LT-1", platform="macos", source_id="a")
    server = Endpoint.objects.create(hostname="srv-db", platform="linux", source_id="b")
    Endpoint.objects.create(hostname="ws-9", platform="windows", source_id="c", fqdn="")
    laptop.tags.add(Tag.objects.create(name="laptop"))

    def names(*conditions, mode="all"):
        query = endpoint_filter(list(conditions), mode, NOW)
        return sorted(Endpoint.objects.filter(query).values_list("hostname", flat=True))

    assert names(condition("endpoint.tags", "contains", "laptop")) == ["LT-1"]
    assert names(condition("endpoint.hostname", "startswith", "lt-")) == ["LT-1"]
    assert names(condition("endpoint.hostname", "endswith", "-DB")) == ["srv-db"]
    assert names(condition("endpoint.platform", "in", ["linux", "macos"])) == [
        "LT-1",
        "srv-db",
    ]
    assert names(condition("endpoint.platform", "not_in", ["linux", "macos"])) == [
        "ws-9"
    ]
    assert names(condition("endpoint.platform", "ne", "linux")) == ["LT-1", "ws-9"]
    assert names(condition("endpoint.hostname", "regex", "^[a-z]+-[0-9]$")) == ["ws-9"]
    assert names(condition("endpoint.fqdn", "exists")) == []
    assert names(
        condition("endpoint.platform", "eq", "linux"),
        condition("endpoint.tags", "contains", "laptop"),
        mode="any",
    ) == ["LT-1", "srv-db"]
    assert server.pk
