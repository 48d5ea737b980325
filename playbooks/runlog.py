"""Capture the log lines a step writes, so each run keeps its own log."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from exec_site.log import UTCFormatter


class _ThreadLines(logging.Handler):
    """Collect the records that one thread logs, formatted in UTC."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(level=logging.INFO)
        self.thread_id = thread_id
        self.lines: list[str] = []
        self.setFormatter(UTCFormatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread_id:
            return
        # Never let a broken message stop the step that logged it.
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)


@contextmanager
def capture_lines() -> Iterator[list[str]]:
    """Collect the lines this thread logs at INFO or above while the block runs.

    NOTE: loggers still filter by their own level first, so with LOG_LEVEL
    set to WARNING a run's log keeps only warnings and errors.
    """
    handler = _ThreadLines(threading.get_ident())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
