"""The check-in hot path: the body reader and the token lookup without the ORM."""

import copy
import random
from datetime import timedelta

import pytest

from endpoints.authentication import endpoint_for_token
from endpoints.models import Endpoint, Tag
from endpoints.serializers import CheckinSerializer, fast_checkin_report

AGENT_BODY = {
    "agent_version": "0.1.0",
    "hostname": "ws-042",
    "os_version": "6.1.0-18-amd64",
    "ip_addresses": ["10.0.0.5", "fe80::1c2b:3aff:fe4d:5e6f", "2001:db8::7"],
    "mac_addresses": ["02:42:ac:11:00:02"],
    "users": [
        {"username": "CORP\\jdoe", "logged_in": True},
        {"username": "jdoe@corp.example.com", "logged_in": False},
        {"username": "root"},
    ],
    "event": None,
}

# Bodies the fast reader must accept: what agents send between changes.
USUAL_BODIES = [
    AGENT_BODY,
    {},
    {"agent_version": "0.1.0", "users": [], "event": None},
    {"event": "shutdown"},
    {"event": "suspended", "users": [{"username": ".\\admin", "logged_in": True}]},
    {"ip_addresses": [], "mac_addresses": []},
    {**AGENT_BODY, "future_field": {"ignored": True}},
]

# Bodies the serializer changes or rejects. The fast reader must return None
# for them, so that the serializer decides.
UNUSUAL_BODIES = [
    [],
    "checkin",
    {"hostname": " ws-042 "},
    {"hostname": ""},
    {"hostname": None},
    {"hostname": 42},
    {"hostname": True},
    {"hostname": "ws\x00042"},
    {"hostname": "h" * 256},
    {"agent_version": "v" * 33},
    {"os_version": ["13"]},
    {"ip_addresses": "10.0.0.5"},
    {"ip_addresses": ["not-an-ip"]},
    {"ip_addresses": ["010.000.000.005"]},
    {"ip_addresses": ["FE80::1"]},
    {"ip_addresses": ["fe80:0:0:0:0:0:0:1"]},
    {"ip_addresses": ["::ffff:10.0.0.5"]},
    {"ip_addresses": ["fe80::1%eth0"]},
    {"ip_addresses": [" 10.0.0.5"]},
    {"ip_addresses": ["10.0.0.5"] * 257},
    {"mac_addresses": [None]},
    {"mac_addresses": ["m" * 65]},
    {"users": None},
    {"users": {"username": "root"}},
    {"users": ["root"]},
    {"users": [{"logged_in": True}]},
    {"users": [{"username": "CORP\\"}]},
    {"users": [{"username": "root", "logged_in": "true"}]},
    {"users": [{"username": "root", "logged_in": 1}]},
    {"users": [{"username": "root", "logged_in": None}]},
    {"users": [{"username": " root"}]},
    {"users": [{"username": "root"}] * 501},
    {"event": "exploded"},
    {"event": ""},
    {"event": ["shutdown"]},
]


def serializer_report(body):
    serializer = CheckinSerializer(data=body)
    if not serializer.is_valid():
        return None
    return serializer.to_report()


@pytest.mark.parametrize("body", USUAL_BODIES)
def test_fast_report_reads_usual_bodies(body):
    report = fast_checkin_report(body)

    assert report is not None
    assert report == serializer_report(body)


@pytest.mark.parametrize("body", UNUSUAL_BODIES)
def test_fast_report_leaves_unusual_bodies(body):
    assert fast_checkin_report(body) is None


ODD_VALUES = [
    None,
    True,
    0,
    1,
    2.5,
    "",
    " ",
    "x" * 300,
    "10.0.0.5",
    "fe80::1",
    "FE80::1",
    "shutdown",
    "CORP\\",
    "CORP\\jdoe",
    "\udcff",
    [],
    ["10.0.0.5"],
    [None],
    [{"username": "root"}],
    [{"username": 5}],
    {},
    {"username": "root"},
]


def test_fast_report_never_disagrees_with_serializer():
    """Mutated agent bodies: the fast reader returns None or the same report."""
    generator = random.Random(20261204)
    read = 0
    for _ in range(3000):
        body = copy.deepcopy(AGENT_BODY)
        for _ in range(generator.randint(1, 3)):
            mutate(body, generator)

        report = fast_checkin_report(body)

        if report is not None:
            read += 1
            assert report == serializer_report(body), body
    # Mutations that keep a body well formed must still take the fast path.
    assert read > 100


def mutate(body, generator):
    """Replace one field, list item or user attribute with an odd value."""
    name = generator.choice(sorted(CheckinSerializer().fields))
    value = generator.choice(ODD_VALUES)
    current = body.get(name)
    if isinstance(current, list) and current and generator.random() < 0.6:
        index = generator.randrange(len(current))
        if isinstance(current[index], dict):
            key = generator.choice(["username", "logged_in", "extra"])
            current[index][key] = value
        else:
            current[index] = value
    elif generator.random() < 0.1:
        body.pop(name, None)
    else:
        body[name] = copy.deepcopy(value)


def test_fast_report_reads_every_serializer_field():
    body = {
        "agent_version": "0.2.0",
        "hostname": "ws-042",
        "os_version": "14.4",
        "ip_addresses": ["10.0.0.5"],
        "mac_addresses": ["02:42:ac:11:00:02"],
        "users": [{"username": "root", "logged_in": False}],
        "event": "uninstalled",
    }
    assert set(body) == set(CheckinSerializer().fields)

    report = fast_checkin_report(body)

    assert report is not None
    assert report == serializer_report(body)


@pytest.mark.django_db
def test_token_lookup_matches_orm(make_endpoint, now):
    endpoint, token = make_endpoint(
        fqdn="ws-042.corp.example.com",
        ip_addresses=["10.0.0.5", "fe80::1"],
        mac_addresses=["02:42:ac:11:00:02"],
        contained=True,
        legal_hold=True,
        decommissioned=None,
        agent_token_rotated=now - timedelta(days=3),
        users_digest="d" * 64,
    )
    endpoint.tags.add(Tag.objects.create(name="investigate"))
    stored = Endpoint.objects.get(pk=endpoint.pk)

    found = endpoint_for_token(token, now)

    assert found is not None
    for field in Endpoint._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(stored, field.attname), (
            field.name
        )
    assert found.has_due_tasks is False
    assert found._state.adding is False
    assert found._state.db == "default"


@pytest.mark.django_db
def test_token_lookup_due_tasks(make_endpoint, make_task, now):
    endpoint, token = make_endpoint()
    make_task(endpoint, expires=now - timedelta(seconds=1))
    assert endpoint_for_token(token, now).has_due_tasks is False

    make_task(endpoint)

    assert endpoint_for_token(token, now).has_due_tasks is True


@pytest.mark.django_db
def test_token_lookup_unknown_and_retired(make_endpoint):
    _, retired_token = make_endpoint(status="uninstalled")

    assert endpoint_for_token("agt_unknown") is None
    assert endpoint_for_token("") is None
    assert endpoint_for_token(retired_token) is None
