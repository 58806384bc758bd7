"""Gate modes (lockdown, fire release, free passage) and door alarms, with the real alarm
service. The devices that carry a mode out are the test's recorder (``Rig._execute``); the
end-to-end tests drive the simulated readers and controllers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.kernel.events import (
    DOOR_CLOSED,
    DOOR_EXIT_REQUEST,
    DOOR_OPENED,
    FIRE_ALARM,
    FIRE_RESTORED,
    DoorFact,
    Event,
    FireFact,
    Severity,
)
from tests.access.support import card, person, rig

SERVING = {"main-gate": ["lanes"], "staff-door": ["readers"]}


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 60))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


def test_fire_release_wins_over_lockdown_and_returns_to_it_after_reset(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, serving=SERVING) as r:
            r.modes.start([], grace=0)
            await settle()
            r.actions.clear()
            r.modes.start_lockdown("chief", "intruder at the east fence")
            await settle()
            assert sorted((d, a["gate"], a["mode"]) for d, _, a in r.actions) == [
                ("lanes", "main-gate", "locked"), ("readers", "staff-door", "locked")]
            with r.outbox.unit():
                r.bus.publish(Event(FIRE_ALARM, "panel", FireFact(
                    condition="fire", point="L1-P3", zone="building-b"), Severity.CRITICAL,
                    "L1-P3"))
            await settle()
            assert r.modes.mode("main-gate") == ("free", "fire_release")  # egress
            assert r.modes.mode("staff-door") == ("locked", "lockdown")  # not an exit route
            modes = [(e.payload.gate, e.payload.mode) for e in r.of("access.gate_mode")]
            assert modes[-1] == ("main-gate", "free")
            assert r.of("access.gate_mode")[-1].payload.devices == {"lanes": True}
            with r.outbox.unit():
                r.bus.publish(Event(FIRE_RESTORED, "panel", FireFact(
                    condition="fire", point="L1-P3", zone="building-b"), Severity.INFO,
                    "L1-P3"))
            await settle()
            assert r.modes.mode("main-gate") == ("free", "fire_release")  # until reset
            (fire,) = [a for a in r.alarms.open_alarms() if a.condition == "fire"]
            r.alarms.reset(fire.alarm_id, "guard1")
            await settle()
            assert r.modes.mode("main-gate") == ("locked", "lockdown")
            r.modes.stop_lockdown("chief")
            await settle()
            assert r.modes.mode("main-gate") == ("normal", "normal")
            assert (await r.command("gate.list", {}))["lockdown"] is None

    run(scenario())


def test_a_device_that_does_not_confirm_is_tried_again_and_said_so(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, serving=SERVING) as r:
            r.device_answer = {"confirmed": False, "error": "controller offline"}
            r.modes.retry_after = 0.0  # an unconfirmed gate is due again at the next tick
            r.modes.start([], grace=0)
            await settle()
            r.modes.start_lockdown("chief")
            await settle()
            locked = [e for e in r.of("access.gate_mode")
                      if e.payload.mode == "locked" and e.payload.gate in SERVING]
            assert {e.payload.gate for e in locked} == {"main-gate", "staff-door"}
            assert all(e.severity is Severity.MAJOR and "offline" in e.payload.error
                       for e in locked)
            before = len(r.actions)
            r.device_answer = {"confirmed": True}
            r.modes.tick()
            await settle()
            assert len(r.actions) > before
            assert all(s["confirmed"] for s in r.modes.states())

    run(scenario())


def test_locked_gates_deny_and_the_lockdown_survives_a_restart(tmp_path: Path) -> None:
    async def first() -> None:
        async with rig(tmp_path) as r:
            await r.load([person("t1", "staff")], [card("7", "t1")])
            await r.command("lockdown.start", {"note": "drill"}, by="chief")
            assert (await r.present("7")).reason == "lockdown"

    async def second() -> None:
        async with rig(tmp_path) as r:
            assert r.modes.lockdown is not None and r.modes.lockdown["by"] == "chief"
            assert (await r.present("7")).reason == "lockdown"
            await r.command("lockdown.stop", {}, by="chief")
            assert (await r.present("7")).granted

    run(first())
    run(second())


def door(kind, name="staff-door"):  # type: ignore[no-untyped-def]
    return Event(kind, "readers", DoorFact(door=name, gate="staff-door", reader="staff-in"))


def test_a_door_opened_without_a_grant_is_forced_and_one_left_open_is_held(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path) as r:
            await r.load([person("t1", "staff")], [card("7", "t1")])

            def publish(event: Event) -> None:
                with r.outbox.unit():
                    r.bus.publish(event)

            # a grant, then the door opens and closes: nothing
            assert (await r.present("7", gate="staff-door")).granted
            publish(door(DOOR_OPENED))
            publish(door(DOOR_CLOSED))
            # the exit button, then open: nothing
            publish(door(DOOR_EXIT_REQUEST))
            publish(door(DOOR_OPENED))
            publish(door(DOOR_CLOSED))
            assert not r.of("door.forced") and not r.alarms.open_alarms()
            # opened with nothing to allow it: forced
            publish(door(DOOR_OPENED))
            (alarm,) = r.alarms.open_alarms()
            assert alarm.condition == "door_forced" and alarm.point == "staff-door"
            assert alarm.zone == "staff-door"
            # and it stays open past its limit (1 s): held open too
            time.sleep(1.1)
            r.doors.tick()
            assert {a.condition for a in r.alarms.open_alarms()} == {"door_forced",
                                                                      "door_held_open"}
            publish(door(DOOR_CLOSED))
            assert [e.payload.ended for e in r.of("door.secured")] == [
                "door_forced", "door_held_open"]
            assert not any(a.active for a in r.alarms.open_alarms())

    run(scenario())
