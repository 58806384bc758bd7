"""ONVIF cameras: the gateway pulls their events (PullPoint) and fetches snapshots.

Misbehaviours are the camera simulator's (``simulators/onvif/abuse.py``, ``clock``,
``offline``): ``pull_flood`` (notifications past MessageLimit), ``pull_padding`` (a notification
whose Source is that many bytes), ``pull_malformed`` (answers that are no SOAP),
``answer_delay`` (a slow camera), a clock years off or set to 0001, 1970 or 9999, and a camera
that stops answering.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.abuse.abuses import Abuse, AbuseRig, Family, not_applicable
from tests.conftest import free_port

CAMERA = "abused-cam"
PASSWORD_ENV = "ABUSE_CAMERA_PASSWORD"
ANSWER_LIMIT = 64 * 1024


def stanza(_tmp: Path) -> list[dict[str, Any]]:
    return [{
        "id": CAMERA, "driver": "onvif", "name": "Abused camera", "host": "127.0.0.1",
        "port": free_port(), "username": "gateway", "password": {"env": PASSWORD_ENV},
        "scene": "gate", "stream": {"transport": "mjpeg"}, "simulator": {"rtsp": False},
        "request_timeout": "1s", "answer_limit": ANSWER_LIMIT,
        "subscription": {"pull_timeout": 1, "backoff_initial": 0.2, "backoff_max": 1}}]


def set_abuse(rig: AbuseRig, **values: Any) -> None:
    """Change the running camera's misbehaviour (``simulators.onvif.abuse.Abuse``)."""
    async def change() -> None:
        abuse = rig.sims.campus.device(CAMERA).abuse  # type: ignore[attr-defined]
        for name, value in values.items():
            setattr(abuse, name, value)

    rig.sims.run(change)


def input_through(rig: AbuseRig) -> dict[str, Any]:
    """The camera's digital input still reaches us (its events are pulled), and its end too: a
    state the gateway already holds is no news, so the next case's press must find it off."""
    mark = rig.mark()
    rig.act(CAMERA, "input", on=True)
    try:
        (event,) = rig.wait(mark, "camera.event", CAMERA, timeout=15)
    finally:
        off = rig.mark()
        rig.act(CAMERA, "input", on=False)
    rig.sub.wait_for(lambda _m: [e for e in rig.since(off, "camera.event", CAMERA)
                                 if e["data"]["kind"] == "digital_input"
                                 and e["data"]["active"] is False], 15, "the input's end")
    return event


def flood_start(rig: AbuseRig) -> None:
    mark = rig.mark()
    set_abuse(rig, pull_flood=100)  # past MessageLimit, in answers within answer_limit
    rig.wait(mark, "device.flooding", CAMERA, timeout=15)  # the press comes mid-flood


def flood_observe(rig: AbuseRig, mark: int) -> None:
    (flooding,) = rig.wait(mark, "device.flooding", CAMERA, timeout=15)
    assert flooding["severity"] == "critical"


def flood_stop(rig: AbuseRig) -> None:
    mark = rig.mark()
    set_abuse(rig, pull_flood=0)
    rig.wait(mark, "device.flood_ended", CAMERA, timeout=20)


def oversized_observe(rig: AbuseRig, mark: int) -> None:
    """A Source of 8 KiB (within answer_limit) is cut, and the event says which field; answers
    past answer_limit are refused, and the gateway says the camera's events are not coming."""
    problems = []
    set_abuse(rig, pull_padding=8 * 1024)
    try:
        cut = rig.wait(mark, "camera.event", CAMERA, timeout=15)[0]
        if "truncated" not in cut:
            longest = max(len(str(v)) for v in cut["data"]["source"].values())
            problems.append(f"a Source cut to {longest} characters without `truncated`")
        refused = rig.mark()
        set_abuse(rig, pull_padding=2 * ANSWER_LIMIT)
        rig.quiet(3)
        rig.act(CAMERA, "input", on=True)
        rig.act(CAMERA, "input", on=False)
        try:
            rig.sub.wait_for(lambda _m: rig.since(refused, "device.offline", CAMERA) or [
                e for e in rig.since(refused, "camera.status", CAMERA)
                if e["data"]["state"] != "up"], 15, "a word that its events are not coming")
        except AssertionError as exc:
            problems.append(str(exc)[:120])
    finally:
        set_abuse(rig, pull_padding=0)
    input_through(rig)  # its events come again once its answers fit
    assert not problems, problems


def malformed_observe(rig: AbuseRig, mark: int) -> None:
    """Every event answer spoiled (cut off mid-document, then without its SOAP Envelope): the
    gateway says the camera's events cannot be read, and why; once they parse, they come."""
    for how, said in (("xml", "not well-formed XML"), ("envelope", "no SOAP Envelope")):
        seen = rig.mark()
        set_abuse(rig, pull_malformed=how)
        try:
            lost = rig.sub.wait_for(lambda _m, seen=seen: [
                e for e in rig.since(seen, "camera.status", CAMERA)
                if e["data"]["state"] == "events_unreadable"], 20,
                f"camera.status events_unreadable for answers with {said}")
            assert said in lost[0]["data"]["reason"], lost[0]
            (offline,) = rig.wait(seen, "device.offline", CAMERA)
            assert said in offline["data"]["reason"], offline
        finally:
            set_abuse(rig, pull_malformed="")
        input_through(rig)  # its events come again once its answers parse


def slow_observe(rig: AbuseRig, mark: int) -> None:
    input_through(rig)  # slow is not dead
    assert not rig.since(mark, "device.offline", CAMERA)
    assert not [e for e in rig.since(mark, "camera.status", CAMERA)
                if e["data"]["state"] != "up"]


def times_observe(rig: AbuseRig, mark: int) -> None:
    try:
        for clock in ({"offset": -10 * 365 * 86400}, {"offset": 10 * 365 * 86400},
                      {"offset": -3 * 86400}, {"at": "0001-01-01T00:00:00Z"},
                      {"at": "1970-01-01T00:00:00Z"}, {"at": "9999-06-01T00:00:00Z"}):
            rig.act(CAMERA, "clock", **clock)
            event = input_through(rig)
            now = datetime.now(UTC)
            assert abs(datetime.fromisoformat(event["time"]) - now) < timedelta(minutes=2), (
                clock, event["time"])
            said = datetime.fromisoformat(event.get("devicetime", "1000-01-01T00:00:00Z"))
            assert abs(said - now) > timedelta(days=2), (clock, event)
    finally:
        rig.act(CAMERA, "clock", offset=0)


def hung_observe(rig: AbuseRig, mark: int) -> None:
    (offline,) = rig.wait(mark, "device.offline", CAMERA, timeout=20)
    assert offline["data"]["reason"].strip(), "an offline without a reason"


def hung_stop(rig: AbuseRig) -> None:
    mark = rig.mark()
    rig.act(CAMERA, "online")
    rig.wait(mark, "device.online", CAMERA, timeout=30)


ONVIF = Family(
    name="onvif", driver="onvif", devices=stanza, ready=(CAMERA,),
    env={PASSWORD_ENV: "abused-camera-secret"},
    abuses={
        "flood": Abuse(flood_start, flood_observe, flood_stop),
        "oversized": Abuse(observe=oversized_observe),
        "malformed": Abuse(observe=malformed_observe),
        "time": Abuse(observe=times_observe),
        "slow": Abuse(lambda rig: set_abuse(rig, answer_delay=0.5),  # request_timeout is 1 s
                      slow_observe, lambda rig: set_abuse(rig, answer_delay=0.0)),
        "hung": Abuse(lambda rig: rig.act(CAMERA, "offline", mode="silent"), hung_observe,
                      hung_stop),
        "retry": not_applicable("the gateway pulls a camera's events (PullPoint): a pull that "
                                "failed is not answered again with the same notifications, so "
                                "there is no retry of a reading to recognise"),
    })
