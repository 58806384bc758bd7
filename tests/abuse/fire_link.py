"""GB/T 26875.3: a user information transmission device that connects to the gateway's receiver.

Its misbehaviours are the simulator's (``simulators/gbt26875/``): ``flood``, ``send-malformed``
(``too-long`` is the oversized frame), ``clock``, ``dribble``, ``hang`` and ``repeat``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.abuse.abuses import Abuse, AbuseRig, Family
from tests.conftest import free_port
from tests.gbt26875.support import STANDARD_ADDRESS

LINK = "abused-link"
TRANSMITTER = "abused-transmitter"


def stanza(_tmp: Path) -> list[dict[str, Any]]:
    return [{
        "id": LINK, "driver": "gbt26875", "name": "Abused fire panel link",
        "listen": {"host": "127.0.0.1", "port": free_port()}, "heartbeat_timeout": "5s",
        "transmitters": [{"id": TRANSMITTER, "address": STANDARD_ADDRESS, "zone": "abuse"}],
    }]


def act(rig: AbuseRig, action: str, **args: Any) -> dict[str, Any]:
    return rig.act(LINK, action, transmitter=TRANSMITTER, **args)


def fault(rig: AbuseRig, component: int) -> dict[str, Any]:
    """A fault at ``component`` reaches us (the link still works); it is restored after."""
    mark = rig.mark()
    act(rig, "fault", component_address=component)
    try:
        (event,) = rig.wait(mark, "fire.fault", TRANSMITTER, timeout=15)
    finally:
        act(rig, "restore", component_address=component)
    return event


# --- flood --------------------------------------------------------------------------------------

def flood_start(rig: AbuseRig) -> None:
    mark = rig.mark()
    # small frames, each within the burst: a flood of many readings, none a debt of its own
    act(rig, "flood", frames=0, objects=3, seed=7)
    rig.wait(mark, "device.flooding", TRANSMITTER, timeout=15)  # the press comes mid-flood


def flood_observe(rig: AbuseRig, mark: int) -> None:
    (flooding,) = rig.wait(mark, "device.flooding", TRANSMITTER, timeout=15)
    assert flooding["severity"] == "critical"


def flood_stop(rig: AbuseRig) -> None:
    mark = rig.mark()
    act(rig, "stop-flood")
    (ended,) = rig.wait(mark, "device.flood_ended", TRANSMITTER, timeout=20)
    assert ended["data"]["held_back"] > 0
    fault(rig, 4000)  # its budget is back: a real change gets through


# --- bad frames: nothing at all of them, and the link goes on -----------------------------------

def bad_frames(*kinds: str) -> Abuse:
    def start(rig: AbuseRig) -> None:
        rig.state["log"] = rig.log_mark()
        for kind in kinds:
            act(rig, "send-malformed", kind=kind)

    def observe(rig: AbuseRig, mark: int) -> None:
        fault(rig, 4001)  # a real frame after the bad ones still arrives
        said = [line for line in rig.log_since(rig.state.pop("log")).splitlines()
                if "rejected" in line and f"from {TRANSMITTER} at" in line]
        assert said and all("bytes: 40 40" in line for line in said), (
            "the log names the transmitter and the bytes of what it rejected")
        types = [e["type"] for e in rig.since(mark, "", TRANSMITTER)]
        # only the real fault (and its restoring): nothing of the bad frames, and no offline
        assert [t for t in types if not t.endswith("restored")
                and not t.startswith("campus.alarm.")] == ["campus.fire.fault"], types

    return Abuse(start, observe)


# --- time extremes: the receipt time stands, the device's time is kept beside it --------------

CLOCKS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("2000", {"stuck": "2000-01-01T00:00:01"}),
    ("2099", {"stuck": "2099-12-31T23:59:59"}),
    ("three days behind", {"offset": -3 * 86400}),
    ("three days ahead", {"offset": 3 * 86400}),
)


def times_observe(rig: AbuseRig, mark: int) -> None:
    try:
        for n, (what, clock) in enumerate(CLOCKS):
            act(rig, "clock", **clock)
            event = fault(rig, 4100 + n)
            now = datetime.now(UTC)
            assert abs(datetime.fromisoformat(event["time"]) - now) < timedelta(minutes=2), what
            said = datetime.fromisoformat(event.get("devicetime", "1000-01-01T00:00:00Z"))
            assert abs(said - now) > timedelta(days=2), f"{what}: devicetime {said}"
        act(rig, "clock", unset=True)
        event = fault(rig, 4199)
        assert abs(datetime.fromisoformat(event["time"]) - datetime.now(UTC)) < timedelta(
            minutes=2), "a clock never set"
    finally:
        act(rig, "clock")


# --- slow and hung peers ------------------------------------------------------------------------

def slow_observe(rig: AbuseRig, mark: int) -> None:
    fault(rig, 4200)  # slow is not dead: a change still arrives
    assert not rig.since(mark, "device.offline", TRANSMITTER)


def hung_observe(rig: AbuseRig, mark: int) -> None:
    (offline,) = rig.wait(mark, "device.offline", TRANSMITTER, timeout=15)
    assert "no valid frame" in offline["data"]["reason"], offline["data"]["reason"]


def hung_stop(rig: AbuseRig) -> None:
    mark = rig.mark()
    act(rig, "hang", on=False)
    rig.wait(mark, "device.online", TRANSMITTER, timeout=15)


# --- a reading sent again and again: one event ------------------------------------------------

def retry_observe(rig: AbuseRig, mark: int) -> None:
    act(rig, "repeat", component_address=4300, condition="fault", times=5)
    rig.wait(mark, "fire.fault", TRANSMITTER, timeout=15)
    fault(rig, 4301)  # a later frame is through: the repeats were all taken by now
    faults = [e for e in rig.since(mark, "fire.fault", TRANSMITTER)
              if e["data"]["point"].endswith("/C4300")]
    assert len(faults) == 1, f"{len(faults)} events for 5 sends of one reading"
    act(rig, "restore", component_address=4300)


GBT26875 = Family(
    name="gbt26875", driver="gbt26875", devices=stanza, ready=(TRANSMITTER,),
    abuses={
        "flood": Abuse(flood_start, flood_observe, flood_stop),
        "oversized": bad_frames("too-long"),
        "malformed": bad_frames("garbage", "bad-checksum", "truncated", "wrong-variant"),
        "time": Abuse(observe=times_observe),
        "slow": Abuse(lambda rig: act(rig, "dribble", byte_delay=0.01), slow_observe,
                      lambda rig: act(rig, "dribble", byte_delay=0)),
        "hung": Abuse(lambda rig: act(rig, "hang", on=True), hung_observe, hung_stop),
        "retry": Abuse(observe=retry_observe),
    })
