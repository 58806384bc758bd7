"""The alarm lifecycle, driven by facts as a driver would report them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.alarms import AlarmError, AlarmService, AlarmStore
from gateway.bus import AlarmChanged
from gateway.config import Alarms
from gateway.config import Outbox as Limits
from gateway.drills import Drills
from gateway.kernel.events import (
    CAMERA_EVENT,
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    LINE_FAULT,
    LINE_RESTORED,
    PANIC_PRESSED,
    PANIC_RELEASED,
    VIDEO_CLEARED,
    VIDEO_RAISED,
    AlarmSnapshot,
    AnalyticFact,
    Availability,
    CameraFact,
    Event,
    EventType,
    PointFact,
    Severity,
)
from gateway.outbox import Outbox


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[str, AlarmSnapshot, str | None, str | None]] = []

        self.messages: list[AlarmChanged] = []

    def __call__(self, message: object) -> None:
        assert isinstance(message, AlarmChanged)
        self.messages.append(message)
        self.changes.append((message.kind.name.removeprefix("campus.alarm."), message.alarm,
                             message.by, message.report))

    @property
    def kinds(self) -> list[str]:
        return [c[0] for c in self.changes]


def fact(kind: EventType, point: str = "b1", device: str = "m1") -> Event:
    return Event(kind, device, PointFact(point=point, zone="gate", location="Booth"),
                 Severity.CRITICAL, point)


@contextlib.contextmanager
def state(path: Path) -> Iterator[AlarmStore]:
    """An alarm store on a real state database, its writes committed by a running outbox."""
    outbox = Outbox(path, Limits())
    outbox.start()
    try:
        yield AlarmStore(path, outbox)
    finally:
        outbox.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[AlarmService, Recorder, Drills, AlarmStore]]:
    with state(tmp_path / "state.sqlite3") as store:
        drills = Drills(store)
        recorder = Recorder()
        service = AlarmService(store, Alarms(escalate_after=60), recorder, lambda: drills.active)
        yield service, recorder, drills, store


def test_panic_latches_until_reset_after_the_key_is_turned(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, rec, _, _ = setup
    alarms.on_event(fact(PANIC_PRESSED))
    (alarm,) = alarms.open_alarms()
    assert alarm.state == "active_unacknowledged" and alarm.latched
    assert alarm.severity is Severity.CRITICAL
    assert set(alarm.reports_due) == {"first", "written"}

    alarms.acknowledge(alarm.alarm_id, "guard1", "on my way")
    with pytest.raises(AlarmError, match="still active"):
        alarms.reset(alarm.alarm_id, "guard1")

    alarms.on_event(fact(PANIC_RELEASED))
    (alarm,) = alarms.open_alarms()
    assert alarm.state == "rtn_acknowledged"  # latched: not closed by the input clearing

    closed = alarms.reset(alarm.alarm_id, "guard1", "false alarm")
    assert closed.state == "closed" and closed.closed_by == "guard1"
    assert (closed.acknowledgement_note, closed.closing_note) == ("on my way", "false alarm")
    assert closed.note == "false alarm"  # the latest, as before
    assert alarms.open_alarms() == []
    assert rec.kinds == ["raised", "acknowledged", "returned", "closed"]


def test_a_second_press_of_an_open_alarm_reactivates_it_unacknowledged(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, rec, _, _ = setup
    alarms.on_event(fact(PANIC_PRESSED))
    alarm_id = alarms.open_alarms()[0].alarm_id
    alarms.acknowledge(alarm_id, "g")
    alarms.on_event(fact(PANIC_RELEASED))
    alarms.on_event(fact(PANIC_PRESSED))
    (alarm,) = alarms.open_alarms()
    assert alarm.alarm_id == alarm_id
    assert alarm.activations == 2 and alarm.state == "active_unacknowledged"
    assert rec.kinds[-1] == "reactivated"


def test_simultaneous_presses_are_separate_alarms_in_order(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, _, _, _ = setup
    for point in ("b1", "b2", "b3"):
        alarms.on_event(fact(PANIC_PRESSED, point))
    ids = [a.alarm_id for a in alarms.open_alarms()]
    assert [a.point for a in alarms.open_alarms()] == ["b1", "b2", "b3"]
    assert ids == sorted(ids)  # time-ordered ids keep the order they were raised in


def test_a_fault_that_clears_itself_waits_for_acknowledge(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, rec, _, _ = setup
    alarms.on_event(fact(LINE_FAULT))
    alarms.on_event(fact(LINE_RESTORED))
    (alarm,) = alarms.open_alarms()
    assert alarm.state == "rtn_unacknowledged" and not alarm.latched
    alarms.acknowledge(alarm.alarm_id, "g")
    assert alarms.open_alarms() == []
    assert rec.kinds == ["raised", "returned", "acknowledged", "closed"]


def test_device_offline_is_a_comm_fault_alarm(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, _, _, _ = setup
    alarms.on_event(Event(DEVICE_OFFLINE, "m1", Availability(online=False), Severity.MAJOR))
    (alarm,) = alarms.open_alarms()
    assert alarm.condition == "comm_fault" and alarm.severity is Severity.MAJOR
    alarms.on_event(Event(DEVICE_ONLINE, "m1", Availability(online=True)))
    assert alarms.open_alarms()[0].state == "rtn_unacknowledged"


def test_escalation_and_reporting_deadlines(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, rec, _, _ = setup
    alarms.on_event(fact(PANIC_PRESSED))
    alarm = alarms.open_alarms()[0]
    t0 = alarm.raised_at
    alarms.tick(t0 + timedelta(seconds=59))
    assert rec.kinds == ["raised"]
    alarms.tick(t0 + timedelta(seconds=61))
    assert rec.kinds == ["raised", "escalated"]
    alarms.tick(t0 + timedelta(seconds=62))
    assert rec.kinds.count("escalated") == 1  # once only

    alarms.report(alarm.alarm_id, "first", "g")
    alarms.tick(t0 + timedelta(minutes=41))
    assert rec.changes[-1][0] == "report_overdue" and rec.changes[-1][3] == "written"
    assert [c[3] for c in rec.changes if c[0] == "report_overdue"] == ["written"]
    with pytest.raises(AlarmError, match="no 'general' report"):
        alarms.report(alarm.alarm_id, "general", "g")


def test_deadlines_survive_closing_and_restarts(tmp_path: Path) -> None:
    rec = Recorder()
    with state(tmp_path / "a.sqlite3") as store:
        alarms = AlarmService(store, Alarms(), rec, lambda: False)
        alarms.on_event(fact(PANIC_PRESSED))
        alarm_id = alarms.open_alarms()[0].alarm_id
        alarms.on_event(fact(PANIC_RELEASED))
        alarms.reset(alarm_id, "g")

    with state(tmp_path / "a.sqlite3") as store:
        again = AlarmService(store, Alarms(), rec, lambda: False)
        assert again.open_alarms() == []
        alarm = again.get(alarm_id)  # still tracked: its reports are not done
        again.tick(alarm.raised_at + timedelta(minutes=21))
        assert rec.changes[-1][0] == "report_overdue" and rec.changes[-1][3] == "first"


def test_open_alarms_survive_a_restart_and_resync_keys(tmp_path: Path) -> None:
    with state(tmp_path / "a.sqlite3") as store:
        AlarmService(store, Alarms(), Recorder(), lambda: False).on_event(fact(PANIC_PRESSED))
    with state(tmp_path / "a.sqlite3") as store:
        again = AlarmService(store, Alarms(), Recorder(), lambda: False)
        assert again.active_conditions("m1") == {"b1/panic"}


def test_drill_alarms_are_flagged_and_summarised(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, rec, drills, _ = setup
    drills.start("monthly drill", "principal")
    alarms.on_event(fact(PANIC_PRESSED))
    for message in rec.messages:
        drills.observe(message)
    alarm = alarms.open_alarms()[0]
    assert alarm.drill and alarm.reports_due == {}
    alarms.acknowledge(alarm.alarm_id, "g")
    alarms.on_event(fact(PANIC_RELEASED))
    alarms.reset(alarm.alarm_id, "g")
    for message in rec.messages[1:]:
        drills.observe(message)
    summary = drills.stop("principal")
    assert summary.alarms_raised == 1 and summary.alarms_still_open == 0
    assert summary.seconds_to_first_acknowledge is not None
    assert summary.seconds_to_last_reset is not None
    assert summary.seconds_to_last_reset >= summary.seconds_to_first_acknowledge
    with pytest.raises(AlarmError, match="no drill"):
        drills.stop("principal")


def fire(condition: str, point: str = "S1-1/C258", active: bool = True) -> Event:
    from gateway.kernel.events import FireFact, fire_event

    return fire_event("utd-b", FireFact(condition=condition, point=point, zone="building-b",  # type: ignore[arg-type]
                                        description="二层东走廊感烟探测器"), active)


def test_fire_alarm_latches_until_the_panel_is_reset(setup) -> None:  # type: ignore[no-untyped-def]
    from gateway.kernel.events import FIRE_PANEL_RESET, PanelAction

    alarms, rec, _, _ = setup
    alarms.on_event(fire("fire"))
    alarms.on_event(fire("fault", point="S1-1/C300"))
    alarms.on_event(fire("fire", point="S1-2/C001"))  # another system behind the same device
    fire_alarm = alarms.open_alarms()[0]
    assert fire_alarm.severity is Severity.CRITICAL and fire_alarm.latched
    assert fire_alarm.zone == "building-b" and fire_alarm.location == "二层东走廊感烟探测器"
    alarms.on_event(fire("fire", active=False))
    assert alarms.open_alarms()[0].state == "rtn_unacknowledged"  # latched, still open

    alarms.on_event(Event(FIRE_PANEL_RESET, "utd-b",
                          PanelAction(action="reset", system_type=1, system_address=1)))
    left = alarms.open_alarms()
    assert [a.point for a in left] == ["S1-2/C001"]  # the reset covered system 1 only
    assert rec.kinds.count("closed") == 2


def test_a_fire_fault_that_clears_waits_for_acknowledge(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, _, _, _ = setup
    alarms.on_event(fire("fault"))
    alarms.on_event(fire("fault", active=False))
    (alarm,) = alarms.open_alarms()
    assert alarm.state == "rtn_unacknowledged" and alarm.severity is Severity.MAJOR
    alarms.acknowledge(alarm.alarm_id, "g")
    assert alarms.open_alarms() == []


def test_indexes_follow_every_change_and_keep_raising_order(setup) -> None:  # type: ignore[no-untyped-def]
    alarms, _, _, _ = setup
    for n in range(300):
        alarms.on_event(fact(PANIC_PRESSED, point=f"b{n}", device="busy"))
    alarms.on_event(fact(PANIC_PRESSED, point="quiet-1", device="quiet"))
    alarms.on_event(fact(LINE_FAULT, point="quiet-1", device="quiet"))
    assert alarms.open_count() == 302
    assert alarms.active_conditions("quiet") == {"quiet-1/panic", "quiet-1/line_fault"}

    alarms.on_event(fact(PANIC_RELEASED, point="b7", device="busy"))
    assert "b7/panic" not in alarms.active_conditions("busy")
    assert len(alarms.active_conditions("busy")) == 299
    busy = alarms.open_for_device("busy")
    assert [a.point for a in busy] == [f"b{n}" for n in range(300)]  # updated in place
    assert busy[7].state == "rtn_unacknowledged"

    alarms.reset(busy[7].alarm_id, "g")
    assert [a.point for a in alarms.open_for_device("busy")][6:8] == ["b6", "b8"]
    alarms.on_event(fact(PANIC_PRESSED, point="b7", device="busy"))  # a new alarm, last
    assert alarms.open_for_device("busy")[-1].point == "b7"
    assert alarms.open_for_device("busy")[-1].alarm_id != busy[7].alarm_id
    assert alarms.open_count() == 302
    assert alarms.open_for_device("nobody") == [] and alarms.active_conditions("nobody") == set()


def test_an_overdue_report_stays_a_task_until_marked_then_the_alarm_is_history(
        tmp_path: Path) -> None:
    rec = Recorder()
    with state(tmp_path / "a.sqlite3") as store:
        alarms = AlarmService(store, Alarms(), rec, lambda: False)
        alarms.on_event(fact(PANIC_PRESSED))
        alarm_id = alarms.open_alarms()[0].alarm_id
        alarms.on_event(fact(PANIC_RELEASED))
        alarms.report(alarm_id, "first", "g1")
        alarms.reset(alarm_id, "g1", "pupil")
        raised = alarms.get(alarm_id).raised_at
        alarms.tick(raised + timedelta(minutes=41))  # the written report is now overdue
        (task,) = alarms.tasks()
        assert task.alarm_id == alarm_id and task.overdue == ["written"]
    with state(tmp_path / "a.sqlite3") as store:
        alarms = AlarmService(store, Alarms(), rec, lambda: False)
        assert [t.alarm_id for t in alarms.tasks()] == [alarm_id]  # across a restart
        alarms.report(alarm_id, "written", "g2")
        assert alarms.tasks() == []
        found = alarms.find(alarm_id)
        assert found is not None and set(found.reports_done) == {"first", "written"}
        with pytest.raises(AlarmError):
            alarms.get(alarm_id)  # no longer a task: nothing to act on
    with state(tmp_path / "a.sqlite3") as store:
        alarms = AlarmService(store, Alarms(history_kept=3600), rec, lambda: False)
        assert [a.alarm_id for a in alarms.held()] == [alarm_id]  # the history, restarted
        alarms.tick(raised + timedelta(hours=3))  # older than history_kept: forgotten
        assert alarms.held() == [] and alarms.find(alarm_id) is None
    with state(tmp_path / "a.sqlite3") as store:
        assert AlarmService(store, Alarms(), rec, lambda: False).held() == []


def test_a_covered_camera_is_one_alarm_from_its_own_event_and_the_analytics(setup) -> None:  # type: ignore[no-untyped-def]
    """The camera says tamper (its video source) and the analytics say covered: one alarm
    about the camera's view, active until both have cleared."""
    alarms, rec, _, _ = setup

    def camera(active: bool) -> Event:
        return Event(CAMERA_EVENT, "cam1", CameraFact(camera="cam1", kind="tamper", active=active,
                     topic="tns1:VideoSource/GlobalSceneChange/ImagingService"),
                     Severity.MAJOR, "VideoSource_1")

    def analytics(raised: bool) -> Event:
        return Event(VIDEO_RAISED if raised else VIDEO_CLEARED, "cam1",
                     AnalyticFact(camera="cam1", analytic="tamper", condition="covered",
                                  score=0.9), Severity.MAJOR, "tamper/covered")

    alarms.on_event(camera(True))
    alarms.on_event(analytics(True))
    (alarm,) = alarms.open_alarms()
    assert (alarm.condition, alarm.point, alarm.activations) == ("camera_tamper", "view", 1)
    alarms.on_event(analytics(False))  # the camera still says tampered
    assert alarms.open_alarms()[0].active
    alarms.on_event(camera(False))
    assert not alarms.open_alarms()[0].active
    assert rec.kinds == ["raised", "returned"]
