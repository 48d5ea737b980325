"""The agent's command line: enroll, run, once, event, uninstall and collect.

Exit codes: 0 done, 1 failed (the message gives the reason), 2 invalid arguments,
78 the server rejected the agent token. A service manager should not restart
the agent after 78: the token is revoked or the endpoint was uninstalled or
decommissioned, and only a new enrollment helps.
"""

import argparse
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

from agent import __version__
from agent.client import (
    STOP_TIMEOUT,
    AuthenticationFailed,
    RequestRejected,
    ServerClient,
    ServerUnavailable,
)
from agent.config import (
    AgentConfig,
    ConfigError,
    delete_config,
    load_config,
    resolve_config_path,
    save_config,
)
from agent.facts import UnsupportedPlatform, enrollment_facts
from agent.handlers import load_handlers
from agent.logs import configure_logging, hide_secret
from agent.loop import Agent
from agent.power import (
    StopRequested,
    ignore_stop_signals,
    install_stop_handlers,
    system_is_shutting_down,
)

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TOKEN_REJECTED = 78  # EX_CONFIG in sysexits.h
REVOKED_MESSAGE = (
    "the server rejected the agent token: it was revoked, or the endpoint was "
    "uninstalled or decommissioned; enroll again with a new enrollment token"
)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["collect"]:
        return run_collect(arguments[1:])

    options = build_parser().parse_args(arguments)
    try:
        configure_logging(options.log_level)
    except ValueError as error:
        return fail(str(error), EXIT_USAGE)
    try:
        return options.command(options)
    except ConfigError as error:
        return fail(str(error))
    except AuthenticationFailed:
        return fail(REVOKED_MESSAGE, EXIT_TOKEN_REJECTED)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        help="configuration file (default: $EXEC_AGENT_CONFIG, else per OS)",
    )
    common.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING or ERROR (default: INFO)"
    )

    parser = argparse.ArgumentParser(
        prog="exec-agent", description="The Exec endpoint agent."
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    enroll = commands.add_parser(
        "enroll", parents=[common], help="enroll this machine with a server"
    )
    enroll.add_argument("--server", required=True, help="server URL, https://...")
    enroll.add_argument("--token", required=True, help="enrollment token (enr_...)")
    enroll.add_argument(
        "--ca-bundle", help="PEM file of the CA certificates that verify the server"
    )
    enroll.add_argument(
        "--force", action="store_true", help="replace an existing configuration"
    )
    enroll.set_defaults(command=command_enroll)

    run = commands.add_parser(
        "run", parents=[common], help="check in every interval until stopped"
    )
    run.set_defaults(command=command_run)

    once = commands.add_parser(
        "once", parents=[common], help="check in once, run the tasks and exit"
    )
    once.set_defaults(command=command_once)

    event = commands.add_parser(
        "event", parents=[common], help="report a power event in one check-in"
    )
    event.add_argument("event", choices=["shutdown", "suspended"])
    event.set_defaults(command=command_event)

    uninstall = commands.add_parser(
        "uninstall",
        parents=[common],
        help="report the uninstall and delete the configuration",
    )
    uninstall.add_argument(
        "--force",
        action="store_true",
        help="delete the configuration even if the uninstall cannot be reported",
    )
    uninstall.set_defaults(command=command_uninstall)

    commands.add_parser(
        "collect", add_help=False, help="collect forensics (see `collect --help`)"
    )
    return parser


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"exec-agent: {message}", file=sys.stderr)
    return code


def command_enroll(options: argparse.Namespace) -> int:
    path = resolve_config_path(options.config)
    if path.exists() and not options.force:
        return fail(
            f"already enrolled: {path} exists; run `uninstall` first or pass "
            "--force to enroll again"
        )
    ca_bundle = None
    if options.ca_bundle:
        ca_path = Path(options.ca_bundle)
        if not ca_path.is_file():
            return fail(f"CA bundle {options.ca_bundle} is not a readable file")
        ca_bundle = str(ca_path.resolve())

    hide_secret(options.token)
    try:
        client = ServerClient(options.server, ca_bundle=ca_bundle)
        facts = enrollment_facts(path.parent)
    except (ValueError, UnsupportedPlatform) as error:
        return fail(str(error))
    try:
        answer = client.enroll({"enrollment_token": options.token, **facts})
    except RequestRejected as error:
        return fail(enroll_rejection(error))
    except ServerUnavailable as error:
        return fail(f"enrollment failed: {error}; check the URL, then retry")
    finally:
        client.close()

    config = config_from_answer(answer, client.base_url, ca_bundle)
    if config is None:
        return fail(f"the server's enrollment answer lacks fields: {sorted(answer)}")
    hide_secret(config.agent_token)
    save_config(config, path)
    print(f"enrolled as endpoint {config.endpoint_id}; configuration in {path}")
    return EXIT_OK


def enroll_rejection(error: RequestRejected) -> str:
    if error.status == 403:
        return f"the server refused the enrollment token: {error}"
    if error.status == 400:
        return f"the server rejected the enrollment data: {error}"
    return f"enrollment failed with status {error.status}: {error}"


def config_from_answer(
    answer: dict[str, Any], server_url: str, ca_bundle: str | None
) -> AgentConfig | None:
    endpoint_id = answer.get("endpoint_id")
    token = answer.get("agent_token")
    interval = answer.get("checkin_interval")
    if not isinstance(endpoint_id, int) or not isinstance(token, str) or not token:
        return None
    config = AgentConfig(server_url, endpoint_id, token, ca_bundle)
    if isinstance(interval, int) and interval > 0:
        config.checkin_interval = interval
    return config


def open_agent(
    options: argparse.Namespace, timeout: tuple[float, float] | None = None
) -> Agent:
    """Load the configuration and build the agent with its server client."""
    path = resolve_config_path(options.config)
    config = load_config(path)
    hide_secret(config.agent_token)
    try:
        client = ServerClient(
            config.server_url,
            token=config.agent_token,
            ca_bundle=config.ca_bundle,
            **({"timeout": timeout} if timeout else {}),
        )
    except ValueError as error:
        raise ConfigError(f"{error} (in {path})") from None
    return Agent(config, path, client)


def command_run(options: argparse.Namespace) -> int:
    agent = open_agent(options)
    supported = load_handlers()
    logger.info("task handlers loaded types=%s", ",".join(supported))
    install_stop_handlers()
    try:
        agent.run_forever()
    except StopRequested as stop:
        return stop_agent(agent, stop)
    except AuthenticationFailed:
        ignore_stop_signals()
        logger.error("%s; exiting with code %s", REVOKED_MESSAGE, EXIT_TOKEN_REJECTED)
        return EXIT_TOKEN_REJECTED


def stop_agent(agent: Agent, stop: StopRequested) -> int:
    """Report `shutdown` if the whole system is going down, then exit 0."""
    if not system_is_shutting_down():
        logger.info("agent stopped signal=%s; no event reported", stop)
        return EXIT_OK

    logger.info("system is shutting down signal=%s; reporting it", stop)
    agent.client.timeout = STOP_TIMEOUT
    try:
        post_event(agent, "shutdown")
    except (ServerUnavailable, RequestRejected, AuthenticationFailed) as error:
        logger.warning("could not report the shutdown: %s", error)
    return EXIT_OK


def post_event(agent: Agent, event: str) -> None:
    tasks = agent.checkin(event=event)
    if tasks:
        # The machine is going down, going to sleep or losing its agent, so
        # tasks handed out with an event check-in are not run.
        ids = ",".join(str(task.get("id")) for task in tasks if isinstance(task, dict))
        logger.warning("tasks not run because of event=%s tasks=%s", event, ids)
    logger.info("event reported event=%s endpoint=%s", event, agent.config.endpoint_id)


def command_once(options: argparse.Namespace) -> int:
    agent = open_agent(options)
    load_handlers()
    try:
        agent.cycle()
    except ServerUnavailable as error:
        return fail(f"check-in failed: {error}")
    except RequestRejected as error:
        return fail(f"the server rejected the check-in: {error}")
    if agent.runner.pending:
        # NOTE: kept results live in memory only, so they are lost here.
        return fail(
            f"results of tasks {sorted(agent.runner.pending)} could not be "
            "delivered because the server became unreachable"
        )
    return EXIT_OK


def command_event(options: argparse.Namespace) -> int:
    agent = open_agent(options, timeout=STOP_TIMEOUT)
    try:
        post_event(agent, options.event)
    except ServerUnavailable as error:
        return fail(f"could not report {options.event}: {error}")
    except RequestRejected as error:
        return fail(f"the server rejected the {options.event} event: {error}")
    return EXIT_OK


def command_uninstall(options: argparse.Namespace) -> int:
    agent = open_agent(options)
    try:
        post_event(agent, "uninstalled")
    except AuthenticationFailed:
        logger.warning("the server no longer accepts this agent; removing it anyway")
    except (ServerUnavailable, RequestRejected) as error:
        if not options.force:
            return fail(
                f"could not report the uninstall: {error}; the configuration "
                f"{agent.config_path} is kept so you can retry, or pass --force "
                "to delete it anyway"
            )
        logger.warning("could not report the uninstall, deleting anyway: %s", error)
    delete_config(agent.config_path)
    print(f"uninstalled; deleted {agent.config_path}")
    return EXIT_OK


def run_collect(arguments: list[str]) -> int:
    """Hand `collect` to the forensics command line, imported only when used."""
    try:
        forensics_cli = importlib.import_module("agent.forensics.cli")
    except ModuleNotFoundError as error:
        if error.name not in ("agent.forensics", "agent.forensics.cli"):
            raise
        return fail(
            "`collect` is not available: this build of the agent lacks the "
            "forensics collectors (module agent.forensics.cli)"
        )
    return int(forensics_cli.main(arguments))
