import pytest

from endpoints.users import ReportedUser, merge_reported, parse_username, users_digest


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("CORP\\jdoe", ("CORP", "jdoe")),
        ("jdoe@corp.example.com", ("corp.example.com", "jdoe")),
        ("jdoe", ("", "jdoe")),
        ("NT AUTHORITY\\SYSTEM", ("NT AUTHORITY", "SYSTEM")),
        (".\\localadmin", ("", "localadmin")),
        ("first.last@sub@corp.example.com", ("corp.example.com", "first.last@sub")),
        ("  CORP\\jdoe ", ("CORP", "jdoe")),
        ("CORP\\", ("CORP", "")),
    ],
)
def test_parse_username_cases(username, expected):
    assert parse_username(username) == expected


def test_merge_reported_logged_in_wins():
    merged = merge_reported(
        [
            ReportedUser("CORP\\jdoe", False),
            ReportedUser("CORP\\jdoe", True),
            ReportedUser("root", False),
        ]
    )

    assert merged == {"CORP\\jdoe": True, "root": False}


def test_users_digest_ignores_order():
    first = users_digest({"a": True, "b": False})
    second = users_digest({"b": False, "a": True})

    assert first == second
    assert users_digest({"a": True, "b": True}) != first
    assert users_digest({}) != first
