import pytest

from exec_site.env import (
    SettingsError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    env_url,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
        ("", True),
    ],
)
def test_env_bool_accepts(value, expected):
    assert env_bool("DEBUG", True, environ={"DEBUG": value}) is expected


def test_env_bool_rejects_other_words():
    with pytest.raises(SettingsError) as error:
        env_bool("DEBUG", True, environ={"DEBUG": "maybe"})

    message = str(error.value)
    assert message.startswith("DEBUG:")
    assert "'maybe'" in message
    assert "true" in message
    assert "false" in message


def test_env_bool_default_when_unset():
    assert env_bool("DEBUG", False, environ={}) is False


def test_env_int_parses_and_bounds():
    assert env_int("WORKERS", 2, environ={"WORKERS": " 8 "}) == 8
    assert env_int("WORKERS", 2, environ={}) == 2

    with pytest.raises(SettingsError, match=r"^WORKERS: invalid integer 'two'"):
        env_int("WORKERS", 2, environ={"WORKERS": "two"})
    with pytest.raises(SettingsError, match=r"^WORKERS: 0 is below the minimum of 1"):
        env_int("WORKERS", 2, minimum=1, environ={"WORKERS": "0"})
    with pytest.raises(SettingsError, match=r"above the maximum of 10"):
        env_int("WORKERS", 2, maximum=10, environ={"WORKERS": "11"})


def test_env_list_splits_and_trims():
    environ = {"ALLOWED_HOSTS": " exec.example.com, ,10.0.0.5 "}

    assert env_list("ALLOWED_HOSTS", [], environ=environ) == [
        "exec.example.com",
        "10.0.0.5",
    ]
    assert env_list("ALLOWED_HOSTS", ["a"], environ={}) == ["a"]


def test_env_choice_is_case_insensitive():
    choices = ("DEBUG", "INFO", "WARNING")

    assert env_choice("LOG_LEVEL", "INFO", choices, environ={"LOG_LEVEL": "debug"}) == (
        "DEBUG"
    )
    with pytest.raises(SettingsError, match=r"^LOG_LEVEL: invalid value 'loud'"):
        env_choice("LOG_LEVEL", "INFO", choices, environ={"LOG_LEVEL": "loud"})


def test_env_url_checks_scheme_and_host():
    schemes = ("http", "https")

    assert env_url("EXEC_BASE_URL", None, schemes, environ={}) is None
    assert (
        env_url("EXEC_BASE_URL", None, schemes, environ={"EXEC_BASE_URL": "https://x"})
        == "https://x"
    )
    with pytest.raises(SettingsError, match=r"^EXEC_BASE_URL: invalid URL 'ftp://x'"):
        env_url("EXEC_BASE_URL", None, schemes, environ={"EXEC_BASE_URL": "ftp://x"})
    with pytest.raises(SettingsError, match=r"has no host"):
        env_url("EXEC_BASE_URL", None, schemes, environ={"EXEC_BASE_URL": "https://"})


def test_env_str_reads_secret_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")

    value = env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)})

    assert value == "s3cret-value"


def test_env_str_missing_secret_file(tmp_path):
    missing = tmp_path / "nope"

    with pytest.raises(SettingsError) as error:
        env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(missing)})

    assert str(error.value).startswith("SECRET_KEY_FILE: cannot read")


def test_env_str_rejects_value_and_file_together(tmp_path):
    environ = {"SECRET_KEY": "a", "SECRET_KEY_FILE": str(tmp_path)}

    with pytest.raises(SettingsError, match="both set"):
        env_str("SECRET_KEY", environ=environ)
