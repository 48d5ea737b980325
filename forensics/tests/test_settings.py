"""Start-up with bad forensics settings, run as real subprocesses."""

import pytest

from exec_site.tests.test_settings import run_manage


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("EXEC_FORENSICS_MAX_UPLOAD_BYTES", "512MB", "invalid integer '512MB'"),
        ("EXEC_FORENSICS_MAX_UNCOMPRESSED_BYTES", "-1", "below the minimum"),
        ("EXEC_FORENSICS_MAX_COMPRESSION_RATIO", "1", "below the minimum of 2"),
        ("EXEC_FORENSICS_RETENTION_DAYS", "0", "below the minimum of 1"),
    ],
)
def test_forensics_settings_reject_bad_value(tmp_path, variable, value, message):
    result = run_manage("check", env={variable: value, "EXEC_VAR_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert f"Exec cannot start: {variable}:" in result.stderr
    assert message in result.stderr


def test_forensics_settings_read_environment(tmp_path):
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.FORENSICS_MAX_UPLOAD_BYTES, s.FORENSICS_RETENTION_DAYS)",
        env={
            "EXEC_FORENSICS_MAX_UPLOAD_BYTES": "2048",
            "EXEC_FORENSICS_RETENTION_DAYS": "30",
            "EXEC_VAR_DIR": str(tmp_path),
        },
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["2048", "30"]
