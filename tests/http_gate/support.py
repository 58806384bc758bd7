"""Shared parts of the HTTP gate tests: site-file stanzas, a running receiver and simulator."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from drivers.http_gate.driver import HttpGateReceiver
from drivers.http_gate.models import HttpGateReceiverConfig
from gateway.kernel.access import AccessDecision, AccessRequest
from gateway.kernel.events import Event
from simulators.http_gate import ControllerFleet, SimulatedController
from tests.sink import ReportingSink

T = TypeVar("T")

PUSH_PASSWORD = "push-Secret-1"
ADMIN_PASSWORD = "admin-Secret-2"
WEBHOOK_SECRET = "webhook-shared-secret-3"
ENV = {"HG_TEST_PUSH": PUSH_PASSWORD, "HG_TEST_ADMIN": ADMIN_PASSWORD,
       "HG_TEST_SECRET": WEBHOOK_SECRET}
MAC = "c0:6d:ed:02:d3:d9"
VEHICLE = "north-vehicle-gate"
TURNSTILE = "east-turnstile"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """One scenario with a deadline, so a hung socket fails instead of hanging."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def isapi_controller(mode: str = "asks", **extra: Any) -> dict[str, Any]:
    """A vehicle barrier: reader 1 lets cars in, reader 2 lets them out, one barrier (door 1)."""
    return {
        "id": VEHICLE,
        "name": "North vehicle barrier",
        "zone": "north-gate",
        "dialect": "isapi",
        "mode": mode,
        "identity": {"mac": MAC, "peer": "127.0.0.1"},
        "push_auth": {"username": "north-vehicle-gate", "password": {"env": "HG_TEST_PUSH"}},
        "command": {"url": f"http://127.0.0.1:{free_port()}", "username": "admin",
                    "password": {"env": "HG_TEST_ADMIN"}},
        "doors": [
            {"door": 1, "reader": 1, "gate": "north-vehicle", "direction": "in",
             "door_id": "north-barrier"},
            {"door": 1, "reader": 2, "gate": "north-vehicle", "direction": "out",
             "door_id": "north-barrier"},
        ],
        **extra,
    }


def webhook_controller(mode: str = "decides", **extra: Any) -> dict[str, Any]:
    """A turnstile lane: door 1 is the way in, door 2 the way out."""
    return {
        "id": TURNSTILE,
        "dialect": "webhook",
        "mode": mode,
        "identity": {"serial": "ET-2231-0042"},
        "secret": {"env": "HG_TEST_SECRET"},
        "command": {"url": f"http://127.0.0.1:{free_port()}"},
        "doors": [
            {"door": 1, "gate": "east-pedestrian", "direction": "in", "door_id": "east-lane-in"},
            {"door": 2, "gate": "east-pedestrian", "direction": "out",
             "door_id": "east-lane-out"},
        ],
        **extra,
    }


def section(*controllers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "gate-controllers", "driver": "http_gate",
            "listen": {"host": "127.0.0.1", "port": free_port()},
            "heartbeat_timeout": "30s", "controllers": list(controllers), **extra}


ACCESS = {
    "gates": [{"id": "north-vehicle"}, {"id": "east-pedestrian"}],
    "doors": [{"id": "north-barrier", "gate": "north-vehicle"},
              {"id": "east-lane-in", "gate": "east-pedestrian"},
              {"id": "east-lane-out", "gate": "east-pedestrian"}],
}


def grant_cards(*cards: str) -> Callable[[AccessRequest], AccessDecision]:
    def decide(request: AccessRequest) -> AccessDecision:
        if request.decided_by_device is not None:
            return AccessDecision(granted=request.decided_by_device,
                                  reason=None if request.decided_by_device
                                  else "unknown_credential")
        if request.credential in cards:
            return AccessDecision(granted=True, person_id="p-" + request.credential,
                                  category="staff")
        return AccessDecision(granted=False, reason="unknown_credential")
    return decide


class Sink(ReportingSink):
    def of(self, name: str) -> list[Event]:
        return [e for e in self.events if e.type.name == name]

    def online(self, device_id: str) -> list[bool]:
        return [online for d, online, _ in self.availability_reports if d == device_id]


@dataclass
class Rig:
    receiver: HttpGateReceiver
    fleet: ControllerFleet
    sink: Sink
    config: HttpGateReceiverConfig

    def controller(self, controller_id: str | None = None) -> SimulatedController:
        return self.fleet.controller(controller_id)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.listen.port}"

    async def act(self, action: str, **args: Any) -> None:
        await self.fleet.act(action, args)


@contextlib.asynccontextmanager
async def rig(stanza: dict[str, Any], decider: Callable[[AccessRequest], AccessDecision]
              | None = None, **options: Any) -> AsyncIterator[Rig]:
    """The receiver (driver) and the controller simulators of one stanza, over real sockets."""
    config = HttpGateReceiverConfig.model_validate(stanza)
    sink = Sink(decider or grant_cards())
    receiver = HttpGateReceiver(config, sink)
    running = asyncio.create_task(receiver.run())
    await until(lambda: receiver.serving or running.done(), "the receiver to listen")
    if running.done():
        await running
    options.setdefault("heartbeat_interval", 3600.0)  # tests send heartbeats when they want
    fleet = ControllerFleet(config, **options)
    await fleet.start()
    try:
        yield Rig(receiver, fleet, sink, config)
    finally:
        await fleet.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
