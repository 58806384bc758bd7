"""A gate controller cannot hurt the receiver: retried pushes are one reading, an insane clock,
numbers out of range, deep bodies and control characters are refused or neutralised, each with
a reason, and the receiver goes on. Driven through the controller simulator on real sockets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from tests.http_gate.support import (
    MAC,
    TURNSTILE,
    VEHICLE,
    isapi_controller,
    rig,
    run,
    section,
    until,
    webhook_controller,
)


def alert(event: str) -> bytes:
    """An ISAPI EventNotificationAlert whose AccessControllerEvent is ``event`` (raw JSON)."""
    return (f'{{"macAddress": "{MAC}", "dateTime": "2026-11-03T07:58:12+08:00", '
            f'"eventType": "AccessControllerEvent", "AccessControllerEvent": {event}}}').encode()


def test_a_retried_push_is_one_event_carrying_the_devices_reading() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            vehicle, turnstile = r.controller(VEHICLE), r.controller(TURNSTILE)
            vehicle.repeats = turnstile.repeats = 2
            vehicle.cards.add("42")
            vehicle.present_card("42", 1, 1)
            vehicle.door_event("forced", 1)
            turnstile.door_event("exit_request", 1)
            await until(lambda: vehicle.counters.retried >= 4
                        and turnstile.counters.retried >= 2, "the retries")
            await until(lambda: len(r.sink.events) == 2, "two door events")
            assert len(r.sink.requests) == 1  # one decision for three pushes of one read
            (read,) = r.sink.requests
            assert read.reading is not None and read.reading.startswith("credential|")
            forced, exit_request = r.sink.events
            assert forced.reading is not None and forced.reading.startswith("door|")
            assert exit_request.reading is not None and "|" in exit_request.reading
    run(scenario())


def test_an_event_without_serial_is_known_by_a_digest_of_its_time_and_content() -> None:
    async def scenario() -> None:
        async with rig(section(webhook_controller())) as r:
            body = json.dumps({"type": "door", "door": 1, "state": "opened",
                               "time": datetime.now(UTC).isoformat()}).encode()
            for _ in range(3):
                status, _ = await r.controller().push_raw(body, "application/json")
                assert status == 200
            (opened,) = r.sink.events
            assert opened.reading is not None and opened.reading.startswith("sha256:")
    run(scenario())


def test_a_device_clock_in_the_year_9999_is_passed_on_for_the_intake_to_judge() -> None:
    """The driver keeps the device's time as it said it: the intake puts the receipt time in
    its place and keeps the device's in ``devicetime`` (tests/http_gate/test_end_to_end.py)."""
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            controller = r.controller()
            await r.act("misbehave", device_time="9999-12-31T23:59:59+08:00")
            controller.cards.add("42")
            controller.present_card("42", 1, 1)
            controller.door_event("forced", 1)
            await until(lambda: r.sink.requests and r.sink.events, "the read and the door")
            said = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=8)))
            assert [r.sink.requests[0].time, r.sink.events[0].time] == [said, said]
            assert controller.counters.statuses[500] == 0
    run(scenario())


def test_a_time_that_is_no_time_is_a_400_naming_the_field() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            vehicle, turnstile = r.controller(VEHICLE), r.controller(TURNSTILE)
            for when in ("0000-01-01T00:00:00Z", "2026-11-03T07:58:12+25:00"):
                status, answer = await vehicle.push_raw(alert(
                    '{"majorEventType": 1, "subEventType": 1028, "serialNo": 5}').replace(
                    b"2026-11-03T07:58:12+08:00", when.encode()), "application/json")
                assert status == 400 and b"dateTime" in answer, (when, answer)
                status, answer = await turnstile.push_raw(json.dumps(
                    {"type": "tamper", "id": "t-1", "time": when}).encode(), "application/json")
                assert status == 400 and b"time" in answer, (when, answer)
            assert not r.sink.events
    run(scenario())


def test_overlong_device_text_is_passed_on_whole_for_the_intake_to_cut() -> None:
    """Not refused and not cut here: the intake cuts it and names the field (``truncated``)."""
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            vehicle, turnstile = r.controller(VEHICLE), r.controller(TURNSTILE)
            status, answer = await turnstile.push_raw(json.dumps(
                {"type": "tamper", "id": "t-2", "time": datetime.now(UTC).isoformat(),
                 "detail": "d" * 2000}).encode(), "application/json")
            assert status == 200, answer
            status, answer = await vehicle.push_raw(alert(
                '{"majorEventType": 5, "subEventType": 1, "cardNo": "' + "7" * 2000
                + '", "doorNo": 1, "cardReaderNo": 1, "serialNo": 6}'), "application/json")
            assert status == 200, answer
            await until(lambda: r.sink.events and r.sink.requests, "the tamper and the read")
            assert r.sink.events[0].payload.detail == "d" * 2000  # type: ignore[attr-defined]
            assert r.sink.requests[0].credential == "7" * 2000
    run(scenario())


def test_numbers_out_of_range_and_deep_bodies_are_a_400_naming_what() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            vehicle, turnstile = r.controller(VEHICLE), r.controller(TURNSTILE)
            common = '"majorEventType": 5, "subEventType": 1, "cardNo": "42", "serialNo": 9'
            for number in ("1e999", "1e300", "4294967296", "1.5"):
                status, answer = await vehicle.push_raw(
                    alert(f'{{{common}, "doorNo": {number}}}'), "application/json")
                assert status == 400 and b"doorNo" in answer, (number, answer)
            deep = b"[" * 50_000 + b"]" * 50_000
            for controller in (vehicle, turnstile):
                status, answer = await controller.push_raw(deep, "application/json")
                assert status == 400 and b"deeper than 32" in answer
            xml = b"<EventNotificationAlert>" + b"<a>" * 5000 + b"</a>" * 5000 \
                + b"</EventNotificationAlert>"
            status, answer = await vehicle.push_raw(xml, "application/xml")
            assert status == 400 and b"deeper than 32" in answer
            status, answer = await turnstile.push_raw(
                b'{"type": "door", "state": "opened", "door": 1e300}', "application/json")
            assert status == 400 and b"door" in answer
            assert r.receiver.counts()["refused"] == {"malformed": 8}
            # and the receiver goes on
            vehicle.cards.add("42")
            vehicle.present_card("42", 1, 1)
            await until(lambda: r.sink.requests, "a read after the garbage")
    run(scenario())


def test_a_command_answer_over_its_cap_is_refused_while_it_streams() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"))) as r:
            r.controller().answer_bytes = 8 * 1024 * 1024
            opened = await r.receiver.execute("open", {"gate": "north-vehicle"})
            assert not opened["confirmed"]
            assert "answered more than 65536 bytes" in opened["error"]
            r.controller().answer_bytes = 0
            assert (await r.receiver.execute("open", {"gate": "north-vehicle"}))["confirmed"]
    run(scenario())


def test_a_card_number_with_a_bidi_override_is_escaped() -> None:
    async def scenario() -> None:
        async with rig(section(isapi_controller("decides"), webhook_controller())) as r:
            r.controller(VEHICLE).present_card("4411\u202e2299", 1, 1)
            r.controller(TURNSTILE).present_card("77\x1b[2J01", 1, None)
            await until(lambda: len(r.sink.requests) == 2, "both reads")
            credentials = sorted(request.credential for request in r.sink.requests)
            assert credentials == ["4411\\u202e2299", "77\\x1b[2J01"]
    run(scenario())
