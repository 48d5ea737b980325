"""Start-up with good and bad environments, run as real subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXEC_", "DJANGO_"))
        and key not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "LOG_LEVEL")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def production_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": "k" * 20 + "Zq8!xP2@mN5#vB7$cL1%dF4^gH6&jK9*",
        "ALLOWED_HOSTS": "exec.example.com",
        "EXEC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "EXEC_VAR_DIR": str(tmp_path),
    }


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("DEBUG", "maybe", "1, true, yes, on, 0, false, no, off"),
        ("DATABASE_URL", "mysql://root@localhost/exec", "postgres://"),
        ("DATABASE_URL", "postgres:///exec", "postgres://USER@HOST"),
        ("DATABASE_URL", "sqlite:///relative.sqlite3", "absolute"),
        ("EXEC_PORT", "http", "whole number"),
        ("LOG_LEVEL", "chatty", "DEBUG, INFO, WARNING"),
        ("EXEC_BASE_URL", "exec.example.com", "http, https"),
        ("EXEC_AUDIT_ANCHOR_FILE", "anchors.jsonl", "absolute path"),
    ],
)
def test_startup_rejects_bad_variable(tmp_path, variable, value, accepted):
    result = run_manage("check", env={variable: value, "EXEC_VAR_DIR": str(tmp_path)})

    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Exec cannot start: {variable}:")
    assert accepted in lines[0]


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "ALLOWED_HOSTS", "EXEC_ENCRYPTION_KEY"]
)
def test_startup_requires_secrets_without_debug(tmp_path, missing):
    env = production_env(tmp_path)
    del env[missing]

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert f"Exec cannot start: {missing}: missing" in result.stderr


def test_startup_rejects_short_secret_key(tmp_path):
    env = {**production_env(tmp_path), "SECRET_KEY": "short"}

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "SECRET_KEY: too short (5 characters)" in result.stderr


def test_startup_rejects_invalid_encryption_key(tmp_path):
    env = {**production_env(tmp_path), "EXEC_ENCRYPTION_KEY": "not-a-key"}

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "EXEC_ENCRYPTION_KEY: invalid key" in result.stderr
    assert "not-a-key" not in result.stderr


def test_check_deploy_has_no_warnings(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path)
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_proxy_setup_can_turn_off_redirect(tmp_path):
    env = {
        **production_env(tmp_path),
        "EXEC_SECURE_SSL_REDIRECT": "0",
        "EXEC_SECURE_PROXY_SSL_HEADER": "1",
    }

    result = run_manage(
        "shell",
        "-v0",
        "-c",
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, "
        "s.SESSION_COOKIE_SECURE)",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "True",
    ]


def test_base_url_follows_port(tmp_path):
    env = {"EXEC_VAR_DIR": str(tmp_path), "EXEC_PORT": "8123"}

    result = run_manage(
        "shell",
        "-v0",
        "-c",
        "from django.conf import settings; print(settings.EXEC_BASE_URL)",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://127.0.0.1:8123"


def test_errors_are_logged_once(tmp_path):
    env = {"EXEC_VAR_DIR": str(tmp_path)}

    result = run_manage(
        "shell",
        "-v0",
        "-c",
        "import logging; logging.getLogger('django.request').error('boom once')",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("boom once") == 1
    assert "ERROR django.request boom once" in result.stderr

    env = {"EXEC_VAR_DIR": str(tmp_path), "DEBUG": "1"}
    command = (
        "shell",
        "-v0",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
    )

    first = run_manage(*command, env=env)
    second = run_manage(*command, env=env)

    key_file = tmp_path / "secret_key"
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert key_file.stat().st_mode & 0o077 == 0
    assert len(first.stdout.strip()) >= 50


@pytest.mark.parametrize(
    ("extra", "backend"),
    [
        ({}, "console"),
        ({"EXEC_SMTP_HOST": "127.0.0.1"}, "smtp"),
        ({"DEBUG": "0"}, "smtp"),
    ],
    ids=["debug", "smtp-host-set", "production"],
)
def test_email_backend_console_in_development(tmp_path, extra, backend):
    env = {"EXEC_VAR_DIR": str(tmp_path), **extra}
    if extra.get("DEBUG") == "0":
        env = production_env(tmp_path)

    result = run_manage(
        "shell",
        "-v0",
        "-c",
        "from django.conf import settings; print(settings.EMAIL_BACKEND)",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"django.core.mail.backends.{backend}.EmailBackend"
