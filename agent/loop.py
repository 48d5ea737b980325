"""The check-in loop: check in, run the tasks handed out, wait, and repeat."""

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from agent.client import (
    AuthenticationFailed,
    RequestRejected,
    ServerClient,
    ServerUnavailable,
)
from agent.config import AgentConfig, save_config
from agent.facts import checkin_facts
from agent.runner import TaskRunner

logger = logging.getLogger(__name__)

JITTER = 0.1
BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0
# Intervals from the server outside these bounds are clamped: a zero would spin
# and a huge value would make the endpoint look missing.
MIN_INTERVAL = 5
MAX_INTERVAL = 24 * 3600


def jittered(interval: float, rng: random.Random) -> float:
    """Return `interval` moved by up to 10% either way, so agents spread out."""
    return interval * rng.uniform(1 - JITTER, 1 + JITTER)


class Backoff:
    """Exponential delays with jitter while the server is unreachable.

    The n-th consecutive failure waits a random time between half and all of
    min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (n - 1)) seconds.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(self.failures - 1, 32))
        return step * self.rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0


class Agent:
    """One enrolled agent: its configuration, its server and its task runner."""

    def __init__(
        self,
        config: AgentConfig,
        config_path: Path,
        client: ServerClient,
        *,
        work_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        collect_facts: Callable[[], dict[str, Any]] = checkin_facts,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.client = client
        self.runner = TaskRunner(client, work_dir or Path.cwd())
        self.sleep = sleep
        # Jitter only spreads check-ins; it needs no secrecy.
        self.rng = rng or random.Random()  # noqa: S311
        self.collect_facts = collect_facts

    def checkin(self, event: str | None = None) -> list[Any]:
        """Post one check-in and return the tasks the server handed out."""
        body = {**self.collect_facts(), "event": event}
        answer = self.client.checkin(body)
        self.update_interval(answer.get("checkin_interval"))
        tasks = answer.get("tasks") or []
        if not isinstance(tasks, list):
            logger.warning("ignored a check-in response whose tasks are not a list")
            return []
        return tasks

    def cycle(self) -> None:
        """Deliver kept results, check in, and run the tasks handed out."""
        self.runner.flush()
        tasks = self.checkin()
        self.runner.run_tasks(tasks)

    def run_forever(self) -> NoReturn:
        """Check in every interval until a signal or a 401 ends the process.

        AuthenticationFailed and the stop signal's exception pass through.
        """
        backoff = Backoff(self.rng)
        logger.info(
            "agent started endpoint=%s server=%s interval=%ss",
            self.config.endpoint_id,
            self.config.server_url,
            self.config.checkin_interval,
        )
        while True:
            delay = self.attempt(backoff)
            self.sleep(delay)

    def attempt(self, backoff: Backoff) -> float:
        """Run one cycle and return how long to wait before the next one."""
        try:
            self.cycle()
        except ServerUnavailable as error:
            delay = backoff.next_delay()
            logger.warning(
                "check-in failed failures=%s retry_in=%.1fs: %s",
                backoff.failures,
                delay,
                error,
            )
            return delay
        except RequestRejected as error:
            # The server is up but rejected this check-in (400 or 413); retrying
            # sooner than the interval would not change its response.
            logger.error(
                "server rejected the check-in status=%s: %s", error.status, error
            )
            return jittered(self.config.checkin_interval, self.rng)
        except AuthenticationFailed:
            raise
        except Exception:
            # A bug or an odd machine state must not end the agent, which
            # would leave the endpoint silent until someone restarts it.
            delay = backoff.next_delay()
            logger.exception(
                "check-in cycle failed failures=%s retry_in=%.1fs",
                backoff.failures,
                delay,
            )
            return delay

        if backoff.failures:
            logger.info("server reachable again after failures=%s", backoff.failures)
            backoff.reset()
        return jittered(self.config.checkin_interval, self.rng)

    def update_interval(self, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            return
        interval = max(MIN_INTERVAL, min(MAX_INTERVAL, value))
        if interval == self.config.checkin_interval:
            return
        logger.info(
            "check-in interval changed old=%ss new=%ss",
            self.config.checkin_interval,
            interval,
        )
        self.config.checkin_interval = interval
        try:
            save_config(self.config, self.config_path)
        except OSError as error:
            logger.warning(
                "could not store the new interval path=%s: %s", self.config_path, error
            )
