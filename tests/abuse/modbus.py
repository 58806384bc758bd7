"""The Modbus families: an I/O module of panic buttons and a fire panel read over Modbus.

Both are polled: the gateway asks, so neither can push a flood, a retry or a timestamp at it.
Their misbehaviours are the simulator's (``simulators/modbus/``): ``chatter`` (a loose contact,
a loop card gone mad), ``reply-fault`` (malformed replies), ``reply-delay`` (a congested line)
and ``offline mode=silent`` (a cut RS-485 pair behind its TCP gateway).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.abuse.abuses import Abuse, AbuseRig, Family, not_applicable
from tests.conftest import free_port

MODULE = "abused-io"
PANEL = "abused-panel"
POLLED = ("a polled device answers what it is asked: the gateway decides what it reads, "
          "so there is no reading for the device to send twice")
NO_TIME = "Modbus carries no time: the gateway stamps each change at the poll that saw it"




def module_stanza(_tmp: Path) -> list[dict[str, Any]]:
    return [{
        "id": MODULE, "driver": "modbus", "name": "Abused I/O module",
        "tcp": {"host": "127.0.0.1", "port": free_port()},
        "poll_interval": "50ms", "debounce": "50ms", "timeout": "500ms",
        "points": [{"id": "btn-x", "input": 0, "zone": "abuse", "location": "Lab X"},
                   {"id": "btn-y", "input": 1, "zone": "abuse", "location": "Lab Y"}],
    }]


def panel_stanza(_tmp: Path) -> list[dict[str, Any]]:
    return [{
        "id": PANEL, "driver": "modbus_fire", "name": "Abused fire panel",
        "profile": "status-word-v1", "tcp": {"host": "127.0.0.1", "port": free_port()},
        "poll_interval": "50ms", "timeout": "500ms", "zones": {1: "abuse-1", 2: "abuse-2"},
    }]


def chatter(device: str) -> Abuse:
    def start(rig: AbuseRig) -> None:
        mark = rig.mark()
        rig.act(device, "chatter", period=0.05)
        rig.wait(mark, "device.flooding", device, timeout=15)  # the press comes mid-flood

    def observe(rig: AbuseRig, mark: int) -> None:
        (flooding,) = rig.wait(mark, "device.flooding", device, timeout=15)
        assert flooding["severity"] == "critical" and flooding["data"]["held_back"] > 0

    def stop(rig: AbuseRig) -> None:
        mark = rig.mark()
        rig.act(device, "chatter", on=False)
        (ended,) = rig.wait(mark, "device.flood_ended", device, timeout=20)
        assert ended["data"]["held_back"] > 0

    return Abuse(start, observe, stop)


def malformed_replies(device: str) -> Abuse:
    """Every read answered with a byte count one more than the bytes, which are all 1s: read
    blindly, every input active. The gateway must call the device offline, naming the reply,
    and take none of it for a state."""

    def start(rig: AbuseRig) -> None:
        rig.act(device, "reply-fault", kind="byte-count")

    def observe(rig: AbuseRig, mark: int) -> None:
        (offline,) = rig.wait(mark, "device.offline", device, timeout=10)
        reason = offline["data"]["reason"]
        # what was read, and what was wrong with it: the count it says and what it carries
        assert "says" in reason and "carries" in reason, reason
        assert not [e for e in rig.since(mark, "", device)
                    if e["type"].split(".")[-2] in ("panic", "fire")], "a malformed reply read"

    def stop(rig: AbuseRig) -> None:
        mark = rig.mark()
        rig.act(device, "reply-fault", kind="none")
        rig.wait(mark, "device.online", device, timeout=15)

    return Abuse(start, observe, stop)


def slow_replies(device: str, prove: Any) -> Abuse:
    """Answers 0.3 s late (its timeout is 0.5 s): slow is not dead. The device stays online,
    and a change at it still arrives (``prove``)."""

    def start(rig: AbuseRig) -> None:
        rig.act(device, "reply-delay", seconds=0.3)

    def observe(rig: AbuseRig, mark: int) -> None:
        prove(rig, mark)
        assert not rig.since(mark, "device.offline", device), "a slow device called offline"

    def stop(rig: AbuseRig) -> None:
        rig.act(device, "reply-delay", seconds=0)

    return Abuse(start, observe, stop)


def hung(device: str) -> Abuse:
    """The line is cut behind the TCP gateway: connections stay, nothing answers."""

    def start(rig: AbuseRig) -> None:
        rig.act(device, "offline", mode="silent")

    def observe(rig: AbuseRig, mark: int) -> None:
        (offline,) = rig.wait(mark, "device.offline", device, timeout=15)
        assert offline["data"]["reason"].strip(), "an offline without a reason"

    def stop(rig: AbuseRig) -> None:
        mark = rig.mark()
        rig.act(device, "online")
        rig.wait(mark, "device.online", device, timeout=15)

    return Abuse(start, observe, stop)


def _module_press(rig: AbuseRig, mark: int) -> None:
    rig.act(MODULE, "press", point="btn-x")
    try:
        rig.wait(mark, "panic.pressed", MODULE, timeout=10)
    finally:
        rig.act(MODULE, "key-reset", point="btn-x")
    rig.wait(mark, "panic.released", MODULE, timeout=10)


def _panel_fault(rig: AbuseRig, mark: int) -> None:
    rig.act(PANEL, "fault", point="L1-P3")
    try:
        rig.wait(mark, "fire.fault", PANEL, timeout=10)
    finally:
        rig.act(PANEL, "restore", point="L1-P3")


MODBUS = Family(
    name="modbus", driver="modbus", devices=module_stanza, ready=(MODULE,),
    abuses={
        "flood": chatter(MODULE),
        "oversized": not_applicable("a Modbus I/O module reports bits: it has no field a "
                                    "device could make longer (a reply longer than asked is "
                                    "the malformed case)"),
        "malformed": malformed_replies(MODULE),
        "time": not_applicable(NO_TIME),
        "slow": slow_replies(MODULE, _module_press),
        "hung": hung(MODULE),
        "retry": not_applicable(POLLED),
    })

MODBUS_FIRE = Family(
    name="modbus_fire", driver="modbus_fire", devices=panel_stanza,
    ready=(PANEL,),
    abuses={
        "flood": chatter(PANEL),
        "oversized": not_applicable("a fire panel's register map is read as fixed-size words: "
                                    "it has no field a device could make longer"),
        "malformed": malformed_replies(PANEL),
        "time": not_applicable(NO_TIME),
        "slow": slow_replies(PANEL, _panel_fault),
        "hung": hung(PANEL),
        "retry": not_applicable(POLLED),
    })
