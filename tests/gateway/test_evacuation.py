"""The evacuation roll call's record: opened from a fire alarm or during a drill, ticked off,
kept across a restart, closed; what cannot be done is refused saying why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.access.evacuation import Evacuations
from gateway.alarms import AlarmError, AlarmService
from gateway.commands import CommandError
from gateway.config import Alarms
from gateway.drills import Drills
from gateway.kernel.events import PANIC_PRESSED
from tests.gateway.test_alarms import Recorder, fact, state


def test_a_roll_call_from_a_drill_kept_across_a_restart(tmp_path: Path) -> None:
    with state(tmp_path / "s.sqlite3") as store:
        drills = Drills(store)
        alarms = AlarmService(store, Alarms(), Recorder(), lambda: drills.active)
        roll = Evacuations(store, alarms, lambda: drills.active)
        with pytest.raises(AlarmError, match="no fire alarm named and no drill running"):
            roll.start(None, "g1")
        alarms.on_event(fact(PANIC_PRESSED))
        panic = alarms.open_alarms()[0].alarm_id
        with pytest.raises(AlarmError, match="is not a fire alarm"):
            roll.start(panic, "g1")
        drills.start("evacuation drill", "chief")
        opened = roll.start(None, "g1")
        assert opened.drill and roll.start(None, "g2") == opened  # a second guard joins it
        roll.tick(opened.evacuation_id, "S1", True, "g1")
        roll.tick(opened.evacuation_id, "T1", True, "g2")
        roll.tick(opened.evacuation_id, "T1", False, "g2")  # a mistake, taken back
    with state(tmp_path / "s.sqlite3") as store:
        drills = Drills(store)
        alarms = AlarmService(store, Alarms(), Recorder(), lambda: drills.active)
        roll = Evacuations(store, alarms, lambda: drills.active)
        assert roll.current is not None and list(roll.current.ticked) == ["S1"]
        assert roll.current.ticked["S1"].by == "g1"
        with pytest.raises(AlarmError, match="is not the open one"):
            roll.tick("evac-other", "T1", True, "g1")
        roll.end(opened.evacuation_id)
        assert roll.current is None
    with state(tmp_path / "s.sqlite3") as store:
        drills = Drills(store)
        alarms = AlarmService(store, Alarms(), Recorder(), lambda: drills.active)
        assert Evacuations(store, alarms, lambda: drills.active).current is None


def test_the_commands_refuse_wrong_arguments_by_name(tmp_path: Path) -> None:
    with state(tmp_path / "s.sqlite3") as store:
        alarms = AlarmService(store, Alarms(), Recorder(), lambda: True)
        handlers = Evacuations(store, alarms, lambda: True).handlers()
        opened = asyncio.run(handlers["evacuation.start"]({}, "g1"))
        tick = handlers["evacuation.tick"]
        with pytest.raises(CommandError, match="present must be true or false"):
            asyncio.run(tick({"evacuation_id": opened["evacuation_id"], "person_id": "S1",
                              "present": "yes"}, "g1"))
        with pytest.raises(CommandError, match="'person_id'"):
            asyncio.run(tick({"evacuation_id": opened["evacuation_id"]}, "g1"))
        with pytest.raises(CommandError, match="longer than 64"):
            asyncio.run(tick({"evacuation_id": opened["evacuation_id"],
                              "person_id": "x" * 65}, "g1"))
