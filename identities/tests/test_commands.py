"""The match_identity command."""

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connectors.models import Connector

pytestmark = pytest.mark.django_db


def test_commands_match_identity_prints_ranked_candidates(okta_connector):
    output = StringIO()

    call_command("match_identity", "John Smith", stdout=output)

    lines = output.getvalue().splitlines()
    assert lines[0] == "Candidates for John Smith in Okta test (sandbox):"
    assert lines[1].startswith(" 1.  92  john.smith@example.com  John Smith  ACTIVE")
    assert lines[2] == "         - first and last name equal John Smith"
    assert lines[3] == "         - display name similar: 100"
    assert lines[4].startswith(" 2.  28  john.taylor@example.com")
    assert lines[5] == (
        "         - same first name John, but a different last name: Taylor, not Smith"
    )


def test_commands_match_identity_logs_nothing_above_debug(okta_connector, caplog):
    caplog.set_level(logging.INFO)
    output = StringIO()

    call_command("match_identity", "John Smith", stdout=output)

    assert "john.taylor@example.com" in output.getvalue()
    assert [r.getMessage() for r in caplog.records] == []


def test_commands_match_identity_no_candidates(okta_connector):
    output = StringIO()

    call_command(
        "match_identity", "CORP\\nobody", "--connector", "Okta test", stdout=output
    )

    text = output.getvalue()
    assert "  none" in text
    assert "Note: search for profile.samAccountName = nobody found nothing" in text
    assert "Note: no Okta user matches CORP\\nobody\n" in text
    assert "\\\\" not in text


def test_commands_match_identity_found_has_no_lag_note(okta_connector, okta_server):
    okta_server.state.search_lag_seconds = 30
    okta_server.state.add_user(
        "kim.new@example.com", "Kim", "New", samAccountName="kim.new"
    )
    output = StringIO()

    call_command("match_identity", "CORP\\kim.new", stdout=output)

    text = output.getvalue()
    assert " 1.  96  kim.new@example.com" in text
    assert "may lag" not in text


def test_commands_match_identity_unknown_connector(okta_connector):
    with pytest.raises(CommandError, match="no Okta connector named 'Nope'"):
        call_command("match_identity", "jdoe", "--connector", "Nope")


def test_commands_match_identity_without_connector_hints(db):
    with pytest.raises(CommandError) as caught:
        call_command("match_identity", "jdoe")

    message = str(caught.value)
    assert "No Okta connector is configured" in message
    assert "python manage.py okta_sandbox --configure" in message
    assert "add an Okta connector under Connectors in the admin" in message
    assert "none" not in message


def test_commands_match_identity_several_connectors(okta_connector):
    second = Connector(kind="okta", name="Okta second", base_url="http://127.0.0.1:9")
    second.set_secret("00other")
    second.save()

    with pytest.raises(
        CommandError, match="Okta connectors configured: Okta second, Okta test"
    ):
        call_command("match_identity", "jdoe")


def test_commands_match_identity_unreachable(okta_connector, okta_server):
    okta_server.stop()

    with pytest.raises(CommandError, match="Could not connect"):
        call_command("match_identity", "jdoe")
