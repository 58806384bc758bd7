"""A test rig as an integrator would set one up: simulated devices on real sockets, the gateway
as its own process (`campus-gateway run`), a real mosquitto, and a subscriber in the middle."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import yaml

from gateway.commands import token_digest
from gateway.config import load_site
from gateway.contract import event_schema
from gateway.kernel.events import CATALOGUE
from simulators.campus import SimulatedCampus
from simulators.modbus import ModbusIoSimulator
from tests.conftest import Subscriber, free_port

T = TypeVar("T")

GUARD_TOKEN = "guard-token-for-tests-only"
CHIEF_TOKEN = "chief-token-for-tests-only"


def site_file(tmp_path: Path, broker_url: str, modules: int = 2, *, protocol: str = "5",
              alarms: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
              rtu_port: Path | None = None) -> Path:
    """A site with ``modules`` Modbus TCP I/O modules of two buttons each (and one RTU module)."""
    devices: list[dict[str, Any]] = []
    for i in range(modules):
        devices.append({
            "id": f"io-{i}",
            "driver": "modbus",
            "name": f"I/O module {i}",
            "tcp": {"host": "127.0.0.1", "port": free_port()},
            "poll_interval": "50ms",
            "debounce": "50ms",
            "timeout": "500ms",
            "points": [
                {"id": "btn-a", "input": 0, "zone": f"zone-{i}", "location": f"Room {i}A",
                 "line_fault_input": 8},
                {"id": "btn-b", "input": 1, "zone": f"zone-{i}", "location": f"Room {i}B",
                 "tamper_input": 9},
            ],
            "outputs": [{"name": "siren", "coil": 0}, {"name": "door", "kind": "relay", "coil": 1}],
        })
    if rtu_port is not None:
        devices.append({
            "id": "io-rtu", "driver": "modbus", "rtu": {"port": str(rtu_port), "baudrate": 19200},
            "unit": 3, "poll_interval": "50ms", "timeout": "500ms",
            "points": [{"id": "btn-r", "input": 4, "zone": "dormitory"}],
        })
    doc: dict[str, Any] = {
        "site": {"id": "school-1", "name": "Test School"},
        "gateway": {"id": "gw1", "state_dir": str(tmp_path / "state"), "stats_interval": "2s"},
        "mqtt": {"url": broker_url, "protocol": protocol},
        "operators": [
            {"name": "guard1", "role": "guard", "token_sha256": token_digest(GUARD_TOKEN)},
            {"name": "chief", "role": "supervisor", "token_sha256": token_digest(CHIEF_TOKEN)},
        ],
        "devices": devices,
    }
    if alarms:
        doc["alarms"] = alarms
    doc["console"] = {"listen": {"host": "127.0.0.1", "port": free_port()}}
    doc.update(extra or {})
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class SimulatorThread:
    """Runs a simulated campus on its own event loop, so tests drive it from plain code."""

    def __init__(self, site: Path) -> None:
        self.campus = SimulatedCampus(load_site(site))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.run(self.campus.start)

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 10) -> T:
        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def module(self, device_id: str) -> ModbusIoSimulator:
        return self.campus.io_module(device_id)

    def press(self, device_id: str, point: str) -> None:
        self.run(lambda: self.module(device_id).press(point))

    def release(self, device_id: str, point: str) -> None:
        self.run(lambda: self.module(device_id).release(point))

    def coil(self, device_id: str, name: str) -> bool:
        return self.run(lambda: self.module(device_id).coil(name))

    def stop(self) -> None:
        self.run(self.campus.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class GatewayProcess:
    """`campus-gateway run -c site.yaml` as a child process, its log kept for failures."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.log = site.parent / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "run", "-c", str(self.site)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        code = self.proc.returncode
        self.proc = None
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def cli(site: Path, *args: str, operator: str = "guard1", token: str = GUARD_TOKEN,
        broker: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `campus-gateway` as a guard would, with the token in the environment."""
    env = {**os.environ, "CAMPUS_OPERATOR": operator, "CAMPUS_OPERATOR_TOKEN": token}
    extra = ["--broker", broker] if broker else []
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "-c", str(site), *extra],
                          capture_output=True, text=True, env=env, timeout=60)


def assert_events_valid(sub: Subscriber) -> int:
    """Every event the subscriber saw validates against the schema of its type."""
    checked = 0
    checker = jsonschema.FormatChecker()
    for message in list(sub.messages):
        if "/event/" not in message.topic or not message.payload:
            continue
        body = json.loads(message.payload)
        jsonschema.validate(body, event_schema(CATALOGUE[body["type"]]), format_checker=checker)
        checked += 1
    return checked


def alarm_of(sub: Subscriber, point: str, kind: str = "raised") -> dict[str, Any]:
    (event,) = [e for e in sub.events(f"alarm.{kind}") if e["data"]["alarm"]["point"] == point][:1]
    return event["data"]["alarm"]  # type: ignore[no-any-return]
