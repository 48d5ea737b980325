"""Collectors that hang, crash or block, for the runner's time-limit tests.

The runner's worker process imports this module by name, which registers the
artifacts there. In the test process a fixture calls `register()` and
`unregister()`, so other tests' full collections never see them.
"""

import multiprocessing
import os
import time

from agent.forensics.model import (
    ARTIFACTS,
    LINUX,
    MACOS,
    WINDOWS,
    Rows,
    collector,
    define,
)

HANGS = "test.hangs"
CRASHES = "test.crashes"
BLOCKS_ON_FIFO = "test.blocks_on_fifo"
FIFO_ENV = "EXEC_TEST_FIFO"
NAMES = (HANGS, CRASHES, BLOCKS_ON_FIFO)


def hang() -> Rows:
    time.sleep(600)
    return Rows()


def crash() -> Rows:
    os._exit(3)


def block_on_fifo() -> Rows:
    # A naive read of a FIFO blocks in open() until a writer appears.
    with open(os.environ[FIFO_ENV], "rb") as stream:
        stream.read()
    return Rows()


def register() -> None:
    """Define the test artifacts unless they exist already."""
    for name, function in (
        (HANGS, hang),
        (CRASHES, crash),
        (BLOCKS_ON_FIFO, block_on_fifo),
    ):
        if name not in ARTIFACTS:
            define(name, "value", timeout=1.0)
            collector(name, LINUX, MACOS, WINDOWS)(function)


def unregister() -> None:
    """Remove the test artifacts so full collections do not see them."""
    for name in NAMES:
        ARTIFACTS.pop(name, None)


if multiprocessing.parent_process() is not None:
    register()
