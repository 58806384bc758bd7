"""`campus-gateway demo`: an embedded MQTT broker, the simulated demo campus and the gateway.

Everything runs in one process tree: the broker (amqtt, MQTT 3.1.1) and the gateway in this
process, the simulators in a `campus-sim serve` child. Ctrl-C stops all of it. A fresh operator
token is made for every run, and the readers' keys and the controllers' passwords are random
files made at the first run, so the demo has no default password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.cli import EXIT_CONFIG, serve_until_signalled
from gateway.commands import token_digest
from gateway.config import ConfigError, Operator, load_site
from gateway.kernel.fields import secrets_in

log = logging.getLogger(__name__)

OPERATOR = "demo-guard"


class DemoError(Exception):
    """The demo cannot start; the message says what to do."""


def demo_listeners(site: Any, broker_port: int | None, control: str) -> list[tuple[str, str, int]]:
    """Every address the demo listens on (what, host, port): its broker (if embedded), the
    simulators' control API and devices, the gateway's console and receivers. The demo campus
    has fixed ports, as its site file says: a second demo on the machine must not start half
    way and talk to the first one's devices with its own keys."""
    host, _, port = control.rpartition(":")
    found = [("the simulators' control API (--control)", host or "127.0.0.1", int(port))]
    if broker_port is not None:
        found.append(("the embedded broker (--port)", "127.0.0.1", broker_port))
    if site.console.enabled:
        found.append(("the console (--console-port)", site.console.listen.host,
                      site.console.listen.port))
    if site.metrics.enabled:
        found.append(("metrics.listen", site.metrics.listen.host, site.metrics.listen.port))
    for device in site.devices:
        for address in _addresses(device):
            found.append((f"device {device.id}", *address))
    if site.alarm_centre is not None:  # the simulated receivers of the alarm receiving centre
        for name, receiver in zip(site.alarm_centre.receiver_names(),
                                  site.alarm_centre.receivers, strict=True):
            found.append((f"alarm centre {name}", receiver.host, receiver.port))
    return list(dict.fromkeys(found))


def _addresses(model: Any) -> list[tuple[str, int]]:
    """The host/port pairs and http URLs of a device's section (its links and listeners)."""
    from urllib.parse import urlsplit

    from pydantic import BaseModel

    if isinstance(model, list):
        return [a for item in model for a in _addresses(item)]
    if not isinstance(model, BaseModel):
        return []
    found = []
    host, port = getattr(model, "host", None), getattr(model, "port", None)
    if isinstance(host, str) and isinstance(port, int):
        found.append((host, port))
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name == "url" and isinstance(value, str) and value.startswith("http"):
            url = urlsplit(value)
            found.append((url.hostname or "127.0.0.1",
                          url.port or (443 if url.scheme == "https" else 80)))
        found += _addresses(value)
    return found


def refuse_taken_ports(listeners: list[tuple[str, str, int]]) -> None:
    """A DemoError naming the first address something else already listens on."""
    from gateway.doctor import listen_refused

    for what, host, port in listeners:
        if (refused := listen_refused(host, port)) is not None:
            raise DemoError(
                f"{host}:{port} ({what}) is in use ({refused.strerror}): another demo may be "
                "running on this machine. Stop it (Ctrl-C in its terminal) and start this "
                "one again; to run two at once, give the second a copy of the site file "
                "with other ports, and other --port, --control and --console-port")


async def _start_broker(port: int) -> Any:
    from amqtt.broker import Broker
    from amqtt.errors import BrokerError

    broker = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    })
    try:
        await broker.start()
    except BrokerError as exc:
        raise DemoError(f"the embedded broker cannot listen on 127.0.0.1:{port} ({exc}): is "
                        f"another broker there? use --port N, or --broker "
                        f"mqtt://127.0.0.1:{port} to use it") from None
    return broker


def _console_login(site: Any) -> tuple[str, str] | None:
    """A fresh password for the demo guard's console login, made for this run only."""
    from gateway.console.operators import ConsoleOperators, OperatorError

    if not site.console.enabled:
        return None
    store = ConsoleOperators(site.gateway.state_dir / "operators.sqlite3")
    password = secrets.token_urlsafe(12)
    try:
        store.add(OPERATOR, "supervisor", password)
    except OperatorError:
        store.set_password(OPERATOR, password)
    listen = site.console.listen
    return f"http://{listen.host}:{listen.port}/", password


DEMO_PEOPLE = Path(__file__).resolve().parent.parent / "config" / "demo-people.csv"


def make_secrets(site: Any) -> None:
    """Every secret file the site file names and that does not exist yet: a random key (32 hex
    digits, an OSDP SCBK) or password, readable by this user only. The simulators read the same
    files, so both ends agree."""
    for device in site.devices:
        for secret in secrets_in(device):
            if secret.file is not None and not secret.file.exists():
                secret.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                secret.file.touch(mode=0o600)
                secret.file.write_text(secrets.token_hex(16) + "\n")


async def load_people(site: Any) -> str:
    """The demo's people, when the credential list is empty (a first run)."""
    from gateway.access.credentials import CredentialStore, read_import_file, snapshot_parts

    store = CredentialStore(site.gateway.state_dir)
    try:
        if store.version == 0 and DEMO_PEOPLE.exists():
            persons, credentials = read_import_file(DEMO_PEOPLE)
            for part in snapshot_parts(1, persons, credentials, per_part=10_000):
                await store.snapshot(part)
        persons_held, credentials_held = store.counts()
        return f"{persons_held} persons, {credentials_held} cards (version {store.version})"
    finally:
        store.close()


def banner(broker_url: str, site_id: str, config: Path, token_file: Path,
           devices: list[Any], control: str, console: tuple[str, str] | None,
           people: str, embedded: bool = True) -> str:
    first = devices[0]
    broker = "embedded amqtt, MQTT 3.1.1" if embedded else "given with --broker"
    host, _, port = broker_url.rpartition(":")
    host = host.split("://", 1)[-1]
    seat = (f"  console       {console[0]}   log in as {OPERATOR}, password {console[1]}\n"
            "                (made for this run only; click \"start duty\" to hear alarms)\n"
            if console else "")
    return f"""
Campus gateway demo is running.
  broker        {broker_url}   ({broker})
  site          {site_id}   ({len(devices)} simulated devices from {config})
  simulators    http://{control}/devices
{seat}
Watch what the central platform sees:
  campus-gateway tail --broker {broker_url}
  mosquitto_sub -h {host} -p {port.rstrip('/')} -t 'campus/#' -v

Press a panic button, then act on the alarm (the operator token is in {token_file}):
  campus-sim act {first.id} press point={first.points[0].id} --control {control}
  export CAMPUS_OPERATOR={OPERATOR} CAMPUS_OPERATOR_TOKEN=$(cat {token_file})
  campus-gateway alarm list  -c {config} --broker {broker_url}
  campus-gateway alarm ack   -c {config} --broker {broker_url} ALARM_ID
  campus-sim act {first.id} key-reset point={first.points[0].id} --control {control}
  campus-gateway alarm reset -c {config} --broker {broker_url} ALARM_ID --note "false alarm"
  (that button is at the gate house: it also locks the campus down until
   campus-gateway access lockdown-stop -c {config} --broker {broker_url})

Gates ({people}; staff cards 20001-20060, students 10001-12000 on school days):
  campus-sim act main-gate-in present-card card=20001 --control {control}
  campus-sim act staff-door force --control {control}        # a door_forced alarm
  campus-gateway visitor add -c {config} --broker {broker_url} \\
      --name "Ms Li" --host T001 --until +2h --qr pass.png
  campus-gateway access on-campus -c {config} --broker {broker_url}

Ctrl-C stops everything.
"""


async def _wait_for_simulators(sim: subprocess.Popen[bytes], control: str) -> None:
    """Start the gateway only once every simulated device listens (no false offline alarms)."""
    import httpx

    async with httpx.AsyncClient(timeout=1.0) as client:
        for _ in range(200):
            if sim.poll() is not None:
                raise DemoError(f"the simulators exited with code {sim.returncode} (see above: "
                                "a port of the demo campus may be in use; is another demo "
                                "running?)")
            try:
                if (await client.get(f"http://{control}/devices")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise DemoError(f"the simulators' control API at {control} did not answer")


def with_dialects(site: Any, chosen: list[str]) -> Any:
    """The site with ``--dialect`` choices written in, or a DemoError saying what the
    simulators would refuse (an unknown id or dialect, one the stanza cannot take)."""
    from simulators.cli import parse_dialects
    from simulators.dialects import choose
    from simulators.simulator import SimulatorError

    try:
        return choose(site, dict(parse_dialects(chosen)))
    except SimulatorError as exc:
        raise DemoError(str(exc)) from None


def run_demo(config_path: Path, broker_url: str | None, port: int, control: str,
             console_port: int | None = None, dialects: list[str] | None = None) -> int:
    """``dialects``: ``ID=NAME`` choices for the simulated devices (campus-sim dialects)."""
    # the embedded broker narrates every session state change; the gateway says what matters
    logging.getLogger("transitions").setLevel(logging.WARNING)
    logging.getLogger("amqtt").setLevel(logging.CRITICAL)
    try:
        site = load_site(config_path)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return EXIT_CONFIG
    url = broker_url or f"mqtt://127.0.0.1:{port}"
    console = site.console
    if console_port is not None:
        console = console.model_copy(update={
            "listen": console.listen.model_copy(update={"port": console_port})})
    site = site.model_copy(update={"console": console})
    chosen = list(dialects or [])
    try:  # before anything is written: a demo already running keeps its token and secrets
        with_dialects(site, chosen)
        refuse_taken_ports(demo_listeners(site, port if broker_url is None else None, control))
    except DemoError as exc:
        print(f"campus-gateway demo: {exc}", file=sys.stderr)
        return 1
    token = secrets.token_urlsafe(24)
    state = site.gateway.state_dir
    state.mkdir(parents=True, exist_ok=True)
    token_file = state / "operator-token"
    token_file.touch(mode=0o600)
    token_file.write_text(token + "\n")
    site = site.model_copy(update={
        "mqtt": site.mqtt.model_copy(update={"url": url, "protocol": "3.1.1"}),
        "operators": [*site.operators,
                      Operator(name=OPERATOR, role="supervisor", token_sha256=token_digest(token))],
    })

    make_secrets(site)

    async def main(stop: asyncio.Event) -> None:
        from gateway.app import Gateway

        people = await load_people(site)
        broker = await _start_broker(port) if broker_url is None else None
        sim = subprocess.Popen(
            [sys.executable, "-m", "simulators", "serve", "-c", str(config_path),
             "--control", control, *(f"--dialect={pair}" for pair in chosen)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            await _wait_for_simulators(sim, control)
            gateway = Gateway(site)
            print(banner(url, site.site.id, config_path, token_file, list(site.devices),
                         control, _console_login(site), people, embedded=broker is not None),
                  flush=True)
            await gateway.run(stop)
        finally:
            sim.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                sim.wait(timeout=5)
            if sim.poll() is None:
                sim.kill()
            if broker is not None:
                await broker.shutdown()

    try:
        asyncio.run(serve_until_signalled(main))
    except DemoError as exc:
        print(f"campus-gateway demo: {exc}", file=sys.stderr)
        return 1
    return 0
