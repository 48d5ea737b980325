"""The agent's log: one line per event on standard error, with UTC times."""

import logging
import os
import sys
import time

LEVEL_ENV = "EXEC_AGENT_LOG_LEVEL"
FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
MASK = "***"


class SecretMask(logging.Filter):
    """Replace registered secrets in every record that passes the handler.

    The agent never logs its tokens on purpose; this filter also covers text
    that a library or an exception message might carry.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # The handler reports the broken format itself when it formats.
            return True
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, MASK)
        if masked != message:
            record.msg, record.args = masked, None
        return True


SECRETS = SecretMask()


def hide_secret(secret: str | None) -> None:
    """Mask `secret` in every later log line."""
    if secret:
        SECRETS.secrets.add(secret)


def configure_logging(level_name: str | None = None) -> None:
    """Send log records to standard error, once, at the named level."""
    level_name = (level_name or os.environ.get(LEVEL_ENV) or "INFO").upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise ValueError(
            f"invalid log level {level_name!r}; use DEBUG, INFO, WARNING or ERROR"
        )

    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(SECRETS)

    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "exec_agent", False):
            root.removeHandler(existing)
    handler.exec_agent = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
