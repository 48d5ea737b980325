"""The match_identity command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_commands_match_identity_prints_ranked_candidates(okta_connector):
    output = StringIO()

    call_command("match_identity", "John Smith", stdout=output)

    lines = output.getvalue().splitlines()
    assert lines[0] == "Candidates for John Smith in Okta test (sandbox):"
    assert lines[1].startswith(" 1.  92  john.smith@example.com  John Smith  ACTIVE")
    assert lines[2] == "         - first and last name equal John Smith"
    assert lines[3] == "         - display name similar: 100"
    assert lines[4].startswith(" 2.  46  john.taylor@example.com")


def test_commands_match_identity_no_candidates(okta_connector):
    output = StringIO()

    call_command(
        "match_identity", "CORP\\nobody", "--connector", "Okta test", stdout=output
    )

    text = output.getvalue()
    assert "  none" in text
    assert "Note: search for profile.samAccountName = nobody found nothing" in text


def test_commands_match_identity_unknown_connector(okta_connector):
    with pytest.raises(CommandError, match="no Okta connector named 'Nope'"):
        call_command("match_identity", "jdoe", "--connector", "Nope")


def test_commands_match_identity_needs_a_connector(db):
    with pytest.raises(CommandError, match="Okta connectors configured: none"):
        call_command("match_identity", "jdoe")


def test_commands_match_identity_unreachable(okta_connector, okta_server):
    okta_server.stop()

    with pytest.raises(CommandError, match="Could not connect"):
        call_command("match_identity", "jdoe")
