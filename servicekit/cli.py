"""Command line of the system: ``clientwork run crm``, ``clientwork token``, ``clientwork dlq-replay``, ..."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import signal
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from services import SERVICE_NAMES
from services.intake.samples import DEFAULT_SAMPLES_DIR

logger = logging.getLogger("clientwork")

ASYNCAPI_DIR = Path(__file__).resolve().parent.parent / "docs" / "asyncapi"


def _bootstrap(name: str) -> ModuleType:
    if name not in SERVICE_NAMES:
        raise SystemExit(f"unknown service {name!r}; choose one of: {', '.join(SERVICE_NAMES)}")
    return importlib.import_module(f"services.{name}.bootstrap")


def _settings(name: str, **overrides: Any) -> Any:
    from pydantic import ValidationError

    module = _bootstrap(name)
    try:
        return module.settings_class(**overrides)
    except ValidationError as exc:
        raise SystemExit(f"invalid settings for {name}:\n{exc}") from exc


def cmd_run(args: argparse.Namespace) -> None:
    import uvicorn

    from servicekit.logs import configure_logging

    settings = _settings(args.service)
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    app = _bootstrap(args.service).create_app(settings)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


def cmd_migrate(args: argparse.Namespace) -> None:
    from servicekit.db import create_engine
    from servicekit.logs import configure_logging
    from servicekit.migrations import migrate

    settings = _settings(args.service)
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    module = _bootstrap(args.service)

    async def run() -> None:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            await migrate(engine, module.MIGRATIONS)
        finally:
            await engine.dispose()

    asyncio.run(run())


def cmd_relay(args: argparse.Namespace) -> None:
    """Run only the outbox relay of a service, for deployments that keep it in its own process."""
    from servicekit.logs import configure_logging
    from servicekit.migrations import migrate

    settings = _settings(args.service)
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = _bootstrap(args.service).create_runtime(settings)

    async def run() -> None:
        # The relay reads the service's outbox, so the schema must exist even before the service ran.
        await migrate(runtime.engine, runtime.migrations)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.broker.connect()
        try:
            await runtime.relay.run(stop)
        finally:
            await runtime.broker.stop()
            await runtime.engine.dispose()

    asyncio.run(run())


def cmd_token(args: argparse.Namespace) -> None:
    from servicekit.auth import issue_token
    from servicekit.settings import ServiceSettings

    settings = ServiceSettings(service_name="cli")
    token = issue_token(
        settings.jwt_secret_key.get_secret_value(),
        args.user,
        name=args.name or args.user,
        department=args.department,
        workgroups=args.workgroup,
        roles=args.role,
        ttl=timedelta(hours=args.ttl_hours),
        issuer=settings.jwt_issuer,
    )
    print(token)


def cmd_dlq_replay(args: argparse.Namespace) -> None:
    from servicekit.dlq import replay_dead_letters
    from servicekit.logs import configure_logging
    from servicekit.settings import ServiceSettings

    settings = ServiceSettings(service_name="dlq-replay")
    configure_logging("dlq-replay", settings.log_level, settings.log_json)
    try:
        count = asyncio.run(replay_dead_letters(settings.kafka_bootstrap_servers, args.topic, limit=args.limit))
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    print(f"replayed {count} message(s) from {args.topic}")


def cmd_asyncapi(args: argparse.Namespace) -> None:
    from servicekit.asyncapi import render_asyncapi

    names = SERVICE_NAMES if args.service == "all" else (args.service,)
    stale = []
    for name in names:
        document = render_asyncapi(name)
        path = ASYNCAPI_DIR / f"{name}.json"
        if args.check:
            if not path.exists() or json.loads(path.read_text(encoding="utf-8")) != json.loads(document):
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        raise SystemExit("AsyncAPI documents differ from the code; run 'clientwork asyncapi all': " + ", ".join(stale))


def cmd_stack(args: argparse.Namespace) -> None:
    from servicekit import devstack

    {"up": devstack.start_all, "down": devstack.stop_all, "status": devstack.status}[args.action]()


def cmd_demo(args: argparse.Namespace) -> None:
    from servicekit.demo import run_demo
    from servicekit.demo.api import DemoError

    try:
        run_demo(args.samples)
    except (DemoError, FileNotFoundError) as exc:
        raise SystemExit(f"demo failed: {exc}") from exc


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def _claim_text(text: str) -> str:
    value = text.strip()
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clientwork", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a service: HTTP API, consumers and outbox relay")
    run.add_argument("service", choices=SERVICE_NAMES)
    run.set_defaults(func=cmd_run)

    migrate = commands.add_parser("migrate", help="apply a service's database migrations")
    migrate.add_argument("service", choices=SERVICE_NAMES)
    migrate.set_defaults(func=cmd_migrate)

    relay = commands.add_parser("relay", help="run only a service's outbox relay")
    relay.add_argument("service", choices=SERVICE_NAMES)
    relay.set_defaults(func=cmd_relay)

    token = commands.add_parser("token", help="issue a staff bearer token signed with JWT_SECRET_KEY")
    token.add_argument("--user", required=True, type=_claim_text, help="user id (the 'sub' claim)")
    token.add_argument("--name", type=_claim_text, help="display name")
    token.add_argument("--department", type=_claim_text, help="department of the user")
    token.add_argument("--workgroup", action="append", default=[], help="workgroup; repeat for several")
    token.add_argument(
        "--role",
        action="append",
        default=[],
        help="role, such as admin or sales; repeat for several",
    )
    token.add_argument("--ttl-hours", type=_positive_float, default=12.0, help="lifetime of the token in hours")
    token.set_defaults(func=cmd_token)

    replay = commands.add_parser(
        "dlq-replay",
        help="publish a dead-letter topic's messages to their topics again",
    )
    replay.add_argument("topic", help="dead-letter topic, such as crm.deals.dlq")
    replay.add_argument("--limit", type=_positive_int, default=None, help="replay at most this many messages")
    replay.set_defaults(func=cmd_dlq_replay)

    asyncapi = commands.add_parser("asyncapi", help="write or check the AsyncAPI document of a service")
    asyncapi.add_argument("service", choices=(*SERVICE_NAMES, "all"))
    asyncapi.add_argument("--check", action="store_true", help="fail if a committed document differs")
    asyncapi.set_defaults(func=cmd_asyncapi)

    stack = commands.add_parser("stack", help="start, stop or list all six services as local processes")
    stack.add_argument("action", choices=("up", "down", "status"))
    stack.set_defaults(func=cmd_stack)

    demo = commands.add_parser(
        "demo", help="replay the vendor payloads, run the closed loop and the portal step on the running services"
    )
    demo.add_argument(
        "--samples",
        type=Path,
        default=DEFAULT_SAMPLES_DIR,
        help=f"folder of intake's vendor payload samples (default: {DEFAULT_SAMPLES_DIR})",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
