"""An alarm centre path in-process, built of the real parts (the state database and its outbox
thread, the alarm service, the bus) and sending over real sockets to simulated receivers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.alarm_centre.config import AlarmCentre
from gateway.alarm_centre.path import AlarmCentrePath
from gateway.alarms import AlarmService, AlarmStore
from gateway.bus import AlarmChanged, Bus
from gateway.config import Alarms
from gateway.config import Outbox as OutboxLimits
from gateway.kernel.events import (
    FIRE_RESTORED,
    PANIC_PRESSED,
    PANIC_RELEASED,
    AlarmSnapshot,
    Event,
    FireFact,
    PointFact,
    Severity,
    fire_event,
)
from gateway.outbox import Outbox, state_database
from gateway.supervisor import Pulse
from simulators.alarm_centre import AlarmCentreSimulators, ReceiverSimulator
from tests.conftest import free_port

FAST = {"supervision": "500ms", "answer_within": "300ms", "attempts": 2}


def centre_doc(receivers: int = 1, transport: str = "tcp", **extra: Any) -> dict[str, Any]:
    return {"account": "1234", **FAST,
            "receivers": [{"url": f"{transport}://127.0.0.1:{free_port()}"}
                          for _ in range(receivers)], **extra}


class Rig:
    """``async with Rig(tmp_path, doc) as rig``: receivers listening, the path running."""

    def __init__(self, tmp_path: Path, doc: dict[str, Any],
                 receiver_doc: dict[str, Any] | None = None) -> None:
        self.config = AlarmCentre.model_validate(doc)
        # the receivers may be told another key than the gateway (a wrong key)
        self.receivers = AlarmCentreSimulators(
            [AlarmCentre.model_validate(receiver_doc or doc)])
        self.database = state_database(tmp_path / "state")
        self.outbox = Outbox(self.database, OutboxLimits())
        self.bus = Bus()
        self.alarms = AlarmService(AlarmStore(self.database, self.outbox), Alarms(),
                                   self.bus.publish, lambda: False)
        self.facts: list[Event] = []  # what the path emitted (alarm_path.failed ...)
        self.path = AlarmCentrePath(self.config, self.database, self.outbox, self._emit, "gw1")
        self.bus.subscribe(AlarmChanged, self.path.alarm_changed)
        self._task: asyncio.Task[None] | None = None

    def _emit(self, event: Event) -> None:
        self.facts.append(event)
        self.alarms.on_event(event)

    @property
    def primary(self) -> ReceiverSimulator:
        return self.receivers.devices[0]

    @property
    def backup(self) -> ReceiverSimulator:
        return self.receivers.devices[1]

    async def __aenter__(self) -> Rig:
        await self.receivers.start()
        self.outbox.start()
        self.start_path()
        return self

    def start_path(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.path.run(Pulse()))

    async def stop_path(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_path()
        await self.receivers.stop()
        await asyncio.to_thread(self.outbox.close, 2.0)

    # -- what happens at the school ------------------------------------------------------

    def press(self, point: str = "btn-a", zone: str = "gate-house") -> AlarmSnapshot:
        self.alarms.on_event(Event(PANIC_PRESSED, "io-0", PointFact(point=point, zone=zone),
                                   Severity.CRITICAL, point))
        return next(a for a in self.alarms.open_alarms() if a.point == point)

    def reset(self, alarm: AlarmSnapshot) -> None:
        self.alarms.on_event(Event(PANIC_RELEASED, "io-0",
                                   PointFact(point=alarm.point, zone=alarm.zone),
                                   subject=alarm.point))
        self.alarms.reset(alarm.alarm_id, "guard1")

    def fire(self, point: str = "L1-P12", restored: bool = False) -> None:
        fact = FireFact(condition="fire", point=point, zone="building-b")
        event = fire_event("fire-panel-b", fact, not restored)
        assert restored == (event.type is FIRE_RESTORED)
        self.alarms.on_event(event)


async def until(check: Callable[[], object], timeout: float = 10.0, what: str = "") -> Any:
    """Wait for ``check()`` to be truthy (behaviour, polled; the timeout only ends a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


def codes(receiver: ReceiverSimulator) -> list[str]:
    return [r["code"] for r in receiver.events() if not r["duplicate"]]
