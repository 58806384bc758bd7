"""What the intake takes from a device: bounded by the event's type, a sane time, one event per
reading however often the device sends it. The real intake, bus, alarm service, publisher and
outbox run here; what was accepted is read back from the state database."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.alarms import AlarmService, AlarmStore
from gateway.bus import AlarmChanged, Bus
from gateway.config import Alarms, Flood
from gateway.config import Intake as IntakeLimits
from gateway.config import Outbox as OutboxLimits
from gateway.event_bounds import MAX_PAYLOAD_BYTES, bound_request
from gateway.intake import Intake
from gateway.kernel.access import AccessDecision, AccessRequest
from gateway.kernel.events import (
    CAMERA_EVENT,
    PANIC_PRESSED,
    CameraFact,
    Event,
    PointFact,
    Severity,
)
from gateway.outbox import Outbox
from gateway.publisher import EventPublisher
from gateway.readings import RecentReadings
from gateway.topics import Topics


@dataclass
class Pipeline:
    path: Path
    outbox: Outbox
    intake: Intake
    alarms: AlarmService

    def accepted(self, kind: str) -> list[dict[str, Any]]:
        db = sqlite3.connect(self.path)
        try:
            return [json.loads(p) for (p,) in db.execute(
                "SELECT payload FROM outbox WHERE kind = ? ORDER BY id", (kind,))]
        finally:
            db.close()


def _pipeline(path: Path) -> Pipeline:
    outbox = Outbox(path, OutboxLimits(synchronous="normal"))
    outbox.start()
    store = AlarmStore(path, outbox)
    bus = Bus()
    alarms = AlarmService(store, Alarms(), bus.publish, lambda: False)
    publisher = EventPublisher(outbox, Topics("campus", "s", "gw"), lambda: False)
    limits = IntakeLimits()
    intake = Intake(bus, alarms.active_conditions, outbox.unit, outbox.durable, Flood(),
                    decide=None,  # type: ignore[arg-type]  # no readers here
                    limits=limits, readings=RecentReadings(path, outbox, limits.repeat_window))
    bus.subscribe(Event, publisher.publish)
    bus.subscribe(Event, alarms.on_event)
    bus.subscribe(AlarmChanged, publisher.alarm_changed)
    return Pipeline(path, outbox, intake, alarms)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    made = _pipeline(tmp_path / "state.sqlite3")
    yield made
    made.outbox.close()


def _settle(pipeline: Pipeline) -> None:
    pipeline.outbox.close()  # commits everything handed in, then stops the thread


def _press(point: str, at: datetime | None = None, reading: str | None = None) -> Event:
    fact = PointFact(point=point, zone="gate-house")
    return Event(PANIC_PRESSED, "io-1", fact, Severity.CRITICAL, point,
                 **({"time": at} if at else {}), reading=reading)


def test_a_camera_string_of_megabytes_is_cut_at_intake_and_the_event_says_so(
        pipeline: Pipeline) -> None:
    huge = "A" * (5 << 20)
    fact = CameraFact(camera="cam-1", kind="tamper", topic="tns1:VideoSource/Tamper",
                      active=True, source={"VideoSourceToken": huge,
                                           **{f"k{i}": "v" for i in range(500)}},
                      data={"State": "true\u202e"})
    assert pipeline.intake.report([Event(CAMERA_EVENT, "cam-1", fact, Severity.MAJOR, "x")])
    _settle(pipeline)
    [body] = pipeline.accepted("campus.camera.event")
    assert len(json.dumps(body)) < MAX_PAYLOAD_BYTES + 2048
    assert body["truncated"] == "source,data"
    assert len(body["data"]["source"]) == 32
    assert body["data"]["source"]["VideoSourceToken"].endswith("…")
    assert body["data"]["data"]["State"] == "true\\u202e"


@pytest.mark.parametrize("device_time", [
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(2030, 1, 1),  # no zone at all
])
def test_a_device_clock_out_of_range_neither_hides_nor_ages_an_alarm(
        pipeline: Pipeline, device_time: datetime) -> None:
    before = datetime.now(UTC)
    assert pipeline.intake.report([_press("btn-1", device_time)])
    [alarm] = pipeline.alarms.open_alarms()
    assert before <= alarm.raised_at <= datetime.now(UTC)
    pipeline.alarms.tick(datetime.now(UTC) + timedelta(seconds=5))
    [alarm] = pipeline.alarms.open_alarms()
    assert alarm.escalated_at is None and not alarm.overdue
    _settle(pipeline)
    [pressed] = pipeline.accepted("campus.panic.pressed")
    assert datetime.fromisoformat(pressed["time"]) >= before
    assert pressed["devicetime"].startswith(device_time.isoformat()[:10])
    [raised] = pipeline.accepted("campus.alarm.raised")
    assert raised["data"]["alarm"]["alarm_id"] == alarm.alarm_id


def test_a_device_time_within_the_window_is_kept(pipeline: Pipeline) -> None:
    at = datetime.now(UTC) - timedelta(minutes=10)
    pipeline.intake.report([_press("btn-1", at)])
    _settle(pipeline)
    [pressed] = pipeline.accepted("campus.panic.pressed")
    assert datetime.fromisoformat(pressed["time"]) == at and "devicetime" not in pressed


def test_a_retried_reading_is_one_event_with_one_id_even_after_a_restart(
        tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    first = _pipeline(path)
    for _ in range(3):
        assert first.intake.report([_press("btn-1", reading="serial-4711")])
    assert first.intake.report([_press("btn-2", reading="serial-4712")])
    _settle(first)
    again = _pipeline(path)  # the gateway restarted; the device retries once more
    assert again.intake.report([_press("btn-1", reading="serial-4711")])
    _settle(again)
    pressed = again.accepted("campus.panic.pressed")
    assert [p["subject"] for p in pressed] == ["btn-1", "btn-2"]
    assert len({p["id"] for p in pressed}) == 2


def _decide_pipeline(path: Path, decided: list[AccessRequest]) -> tuple[Outbox, Intake]:
    """An intake whose access control records what it is asked and grants it."""
    outbox = Outbox(path, OutboxLimits(synchronous="normal"))
    outbox.start()
    limits = IntakeLimits()

    async def decide(request: AccessRequest) -> AccessDecision:
        decided.append(request)
        await asyncio.sleep(0.05)  # as the real one waits for its event's commit
        return AccessDecision(granted=True, person_id="p-1", category="staff")

    intake = Intake(Bus(), lambda device: frozenset(), outbox.unit, outbox.durable, Flood(),
                    decide, limits=limits,
                    readings=RecentReadings(path, outbox, limits.repeat_window))
    return outbox, intake


def test_a_card_read_sent_again_is_decided_once_even_while_the_first_is_being_decided(
        tmp_path: Path) -> None:
    decided: list[AccessRequest] = []

    async def scenario() -> list[AccessDecision]:
        outbox, intake = _decide_pipeline(tmp_path / "state.sqlite3", decided)
        try:
            read = AccessRequest("ctl-1", "door-1", "main-gate", "in", "12345678\u202e",
                                 time=datetime(9999, 12, 31, tzinfo=UTC), reading="serial-77")
            first, retry = await asyncio.gather(intake.decide(read), intake.decide(read))
            late_retry = await intake.decide(read)
            other = await intake.decide(dataclasses.replace(read, reading="serial-78"))
            return [first, retry, late_retry, other]
        finally:
            outbox.close()

    answers = asyncio.run(scenario())
    assert all(a.granted for a in answers)
    assert [r.reading for r in decided] == ["serial-77", "serial-78"]
    request = decided[0]
    assert request.credential == "12345678\\u202e" and request.truncated == ()
    long = bound_request(dataclasses.replace(request, credential="9" * 2000), datetime.now(UTC),
                         3600, 300)
    assert len(long.credential) == 64 and long.truncated == ("credential",)
    assert request.device_time is not None and request.device_time.year == 9999
    assert abs((request.time - datetime.now(UTC)).total_seconds()) < 60


def test_a_device_decided_read_sent_again_after_a_restart_is_not_recorded_twice(
        tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    read = AccessRequest("ctl-1", "door-1", "main-gate", "in", "12345678",
                         decided_by_device=True, reading="serial-90")

    async def run_once(decided: list[AccessRequest]) -> AccessDecision:
        outbox, intake = _decide_pipeline(path, decided)
        try:
            return await intake.decide(read)
        finally:
            outbox.close()

    before: list[AccessRequest] = []
    after: list[AccessRequest] = []
    assert asyncio.run(run_once(before)).granted
    assert asyncio.run(run_once(after)).granted  # the gateway restarted in between
    assert len(before) == 1 and after == []


def test_a_device_sending_past_what_was_asked_floods_even_when_it_says_nothing_new(
        pipeline: Pipeline) -> None:
    """A camera ignoring MessageLimit whose answers repeat known states: no events, but what it
    sends still costs its flood budget, so it is reported flooding all the same."""
    assert pipeline.intake.report([], excess=10, device="cam-1")
    assert not pipeline.intake.report([], excess=20_000, device="cam-1")
    assert pipeline.intake.flood.flooding == {"cam-1": 0}
    _settle(pipeline)
    [flooding] = pipeline.accepted("campus.device.flooding")
    assert flooding["device"] == "cam-1" and flooding["severity"] == "critical"
