"""The one place that imports every task handler module, so each registers.

A build of the agent may leave out a module listed in OPTIONAL_HANDLER_MODULES.
A missing one is skipped, but an import error inside it is raised.
"""

import importlib
import logging

from agent.tasks import HANDLERS

logger = logging.getLogger(__name__)

HANDLER_MODULES = ("agent.handlers.ping",)
OPTIONAL_HANDLER_MODULES = ("agent.forensics.handlers",)


def load_handlers() -> list[str]:
    """Import the handler modules and return the supported task types, sorted."""
    for name in HANDLER_MODULES:
        importlib.import_module(name)
    for name in OPTIONAL_HANDLER_MODULES:
        import_optional(name)
    return sorted(HANDLERS)


def import_optional(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        # Only the module itself (or its package) may be absent; a missing
        # dependency of a present module is a broken build and must show.
        if error.name is None or not is_same_or_parent(error.name, name):
            raise
        logger.debug("optional task handlers are not installed module=%s", name)


def is_same_or_parent(package: str, module: str) -> bool:
    return module == package or module.startswith(package + ".")
