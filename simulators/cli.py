"""``campus-sim``: run simulated campus hardware, poke it, and play scenarios against it.

    campus-sim serve -c config/demo-campus.yaml [--control 127.0.0.1:8787]
    campus-sim act gate-house-io press point=btn-1 [--control URL]
    campus-sim scenario config/scenarios/demo-panic.yaml [--control URL] [--speed 2]
    campus-sim serve -c SITE.yaml --dialect gate-cam=basic-snapshot   # a vendor's dialect
    campus-sim dialects [--markdown]                                  # the dialects there are

Exit codes: 0 done, 1 the simulators or the control API refused or failed, 2 bad input
(an invalid site or scenario file, a malformed argument).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from simulators.control_client import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_URL,
    ControlClient,
    ControlError,
)
from simulators.scenario import Commander, Scenario, ScenarioError, load_scenario, play
from simulators.simulator import InvalidArguments, SimulatorError

if TYPE_CHECKING:
    from simulators.campus import SimulatedCampus

EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # pymodbus warns on every refused or timed-out client request; those are the point here.
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    command: int = args.run(args)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="campus-sim", description="Simulated campus security hardware on real sockets."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run a simulator for every device of a site file")
    serve.add_argument("-c", "--config", required=True, metavar="SITE.yaml")
    serve.add_argument(
        "--control",
        default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help="where the HTTP control API listens (default %(default)s)",
    )
    serve.add_argument(
        "--dialect", action="append", default=[], metavar="ID=NAME",
        help="the camera, gate controller or reader ID speaks dialect NAME (campus-sim "
             "dialects lists them); repeatable")
    serve.set_defaults(run=_serve)

    dialects = commands.add_parser("dialects", help="list the device dialects simulated")
    dialects.add_argument("--markdown", action="store_true",
                          help="the interop matrix as Markdown (docs/interop.md)")
    dialects.set_defaults(run=_dialects)

    act = commands.add_parser("act", help="make a simulated device do something")
    act.add_argument("device")
    act.add_argument("action", help="press, release, key-reset, line-fault, tamper, offline, ...")
    act.add_argument("args", nargs="*", metavar="KEY=VALUE", help="e.g. point=btn-1 on=true")
    act.add_argument("--control", default=DEFAULT_URL, metavar="URL")
    act.set_defaults(run=_act)

    scenario = commands.add_parser("scenario", help="play a timed scenario file")
    scenario.add_argument("file", metavar="FILE.yaml")
    scenario.add_argument("--control", default=DEFAULT_URL, metavar="URL")
    scenario.add_argument("--broker", metavar="mqtt://HOST:PORT",
                          help="for command steps: the broker the gateway uses")
    scenario.add_argument("-c", "--config", metavar="SITE.yaml",
                          help="for command steps: the site file (site and gateway ids)")
    scenario.add_argument(
        "--speed", type=float, default=1.0, help="time factor (2 plays twice as fast)"
    )
    scenario.set_defaults(run=_scenario)
    return parser


# --- serve ----------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    # Site loading, Modbus and the web stack are imported only here: `act` starts quickly.
    from gateway.config import ConfigError, load_site
    from simulators.campus import SimulatedCampus
    from simulators.dialects import choose

    try:
        host, port = _host_port(args.control)
    except ValueError as exc:
        print(f"campus-sim serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        site = load_site(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE

    try:
        site = choose(site, dict(parse_dialects(args.dialect)))
        asyncio.run(_serve_until_signal(SimulatedCampus(site), host, port))
    except SimulatorError as exc:
        print(f"campus-sim: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def parse_dialects(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """``ID=NAME`` pairs of ``--dialect``, or InvalidArguments naming the malformed one."""
    chosen = []
    for pair in pairs:
        device_id, sep, name = pair.partition("=")
        if not sep or not device_id or not name:
            raise InvalidArguments(f"--dialect: expected ID=NAME, got {pair!r}")
        chosen.append((device_id, name))
    return chosen


def _dialects(args: argparse.Namespace) -> int:
    from simulators.dialects import families, matrix

    if args.markdown:
        print(matrix())
        return 0
    for family, dialects in families().items():
        for name, dialect in dialects.items():
            degraded = f" (degraded: {', '.join(dialect.degraded)})" if dialect.degraded else ""
            print(f"{family:<10} {name:<26} {dialect.device}{degraded}")
    return 0


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rstrip("/").rpartition(":")
    host = host.removeprefix("http://").strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--control: expected HOST:PORT, got {value!r}")
    return host, int(port)


async def _serve_until_signal(campus: SimulatedCampus, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    from simulators.control import ControlServer

    control = ControlServer(campus, host, port)
    async with campus:
        await control.start()
        try:
            width = max((len(d.device_id) for d in campus.devices), default=0)
            for device in campus.devices:
                print(f"{device.device_id:<{width}}  {device.address}  {device.summary()}")
            print(f"control API: {control.url}  (Ctrl-C to stop)", flush=True)
            await stop.wait()
        finally:
            await control.stop()
    print("stopped", flush=True)


# --- act ------------------------------------------------------------------------------------


def _act(args: argparse.Namespace) -> int:
    try:
        action_args = parse_assignments(args.args)
    except ValueError as exc:
        print(f"campus-sim act: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = asyncio.run(_post(args.control, args.device, args.action, action_args))
    except ControlError as exc:
        print(f"campus-sim act: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result, indent=2))
    return 0


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``on=true`` -> True, ``count=3`` -> 3, ``point=btn-1`` -> "btn-1": JSON when it parses."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        try:
            parsed[key] = json.loads(text)
        except ValueError:
            parsed[key] = text
    return parsed


async def _post(url: str, device: str, action: str, args: dict[str, Any]) -> dict[str, Any]:
    async with ControlClient(url) as client:
        return await client.act(device, action, args)


# --- scenario -------------------------------------------------------------------------------


def _scenario(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print("campus-sim scenario: --speed must be greater than 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        scenario = load_scenario(args.file)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    try:
        asyncio.run(_play(scenario, args))
    except ScenarioError as exc:
        for problem in exc.problems:
            print(f"campus-sim scenario: {problem}", file=sys.stderr)
        return EXIT_FAILED
    except ControlError as exc:
        print(f"campus-sim scenario: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


async def _play(scenario: Scenario, args: argparse.Namespace) -> None:
    title = scenario.name or args.file
    print(f"playing {title}: {len(scenario.steps)} steps against {args.control}", flush=True)
    async with ControlClient(args.control) as client:
        await play(
            scenario,
            client,
            source=args.file,
            speed=args.speed,
            echo=lambda line: print(line, flush=True),
            commander=_commander(args) if args.config else None,
        )
    print("done", flush=True)


def _commander(args: argparse.Namespace) -> Commander:
    """Gateway commands over MQTT, as the operator named in the environment."""
    import os

    from gateway import remote
    from gateway.config import load_site
    from gateway.topics import Topics

    site = load_site(args.config)
    topics = Topics(site.mqtt.prefix, site.site.id, site.gateway.id)
    url = args.broker or site.mqtt.urls
    operator = os.environ.get("CAMPUS_OPERATOR", "")
    token = os.environ.get("CAMPUS_OPERATOR_TOKEN", "")

    def call(name: str, command_args: dict[str, Any]) -> Any:
        client = remote.connect(url, site=site.mqtt)
        try:
            answer = remote.request(client, topics, name, operator=operator, token=token,
                                    args=command_args)
        finally:
            client.disconnect()
            client.loop_stop()
        if answer.get("status") != "ok":
            error = answer.get("error") or {}
            raise ScenarioError(f"{name} refused: {error.get('code')}: {error.get('message')}")
        return answer.get("data")

    async def command(name: str, command_args: dict[str, Any]) -> Any:
        return await asyncio.to_thread(call, name, command_args)

    return command


if __name__ == "__main__":
    sys.exit(main())
