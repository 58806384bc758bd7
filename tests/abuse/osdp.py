"""OSDP card readers on an RS-485 line (a pseudo-terminal), secure channel enforced.

Misbehaviours are the simulator's (``simulators/osdp/``): ``chatter`` (a tamper switch
flipping), ``bad-reply`` (its next reply with a wrong CRC, or a length of 65,535), ``slow``
(answers late) and ``offline`` (a reader that lost power: silent on the line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.abuse.abuses import Abuse, AbuseRig, Family, not_applicable
from tests.osdp.support import KEYS

BUS = "abused-bus"
READER = "abused-reader"


def stanza(tmp: Path) -> list[dict[str, Any]]:
    return [{
        "id": BUS, "driver": "osdp", "serial": {"port": str(tmp / "ttyABUSE"),
                                                "baudrate": 115200},
        "readers": [{"id": READER, "address": 1, "gate": "abuse-gate", "direction": "in",
                     "key": {"env": "OSDP_TEST_KEY_IN"}}],
    }]


def card_through(rig: AbuseRig) -> None:
    """A card at the reader is still read and decided (the line works)."""
    mark = rig.mark()
    rig.act(READER, "present-card", card=4242)
    (denied,) = rig.wait(mark, "access.denied", BUS, timeout=15)
    assert denied["data"]["reader"] == READER, denied


def flood_start(rig: AbuseRig) -> None:
    mark = rig.mark()
    rig.act(READER, "chatter", period=0.05)
    rig.wait(mark, "device.flooding", READER, timeout=15)  # the press comes mid-flood


def flood_observe(rig: AbuseRig, mark: int) -> None:
    (flooding,) = rig.wait(mark, "device.flooding", READER, timeout=15)
    assert flooding["severity"] == "critical"


def flood_stop(rig: AbuseRig) -> None:
    mark = rig.mark()
    rig.act(READER, "chatter", on=False)
    rig.wait(mark, "device.flood_ended", READER, timeout=20)


def bad_reply(kind: str) -> Abuse:
    """The reader's next reply spoiled on the line (``bad-reply``): what a noisy RS-485 pair
    does to a frame."""

    def start(rig: AbuseRig) -> None:
        rig.state["noise"] = rig.mark()
        rig.state["log"] = rig.log_mark()
        rig.act(READER, "bad-reply", kind=kind)

    def observe(rig: AbuseRig, mark: int) -> None:
        card_through(rig)
        types = [e["type"] for e in rig.since(mark, "", READER) if ".alarm." not in e["type"]]
        assert types == [], f"nothing of the spoiled reply: {types}"
        logged = [line for line in rig.log_since(rig.state["log"]).splitlines()
                  if "dropped a malformed reply" in line]
        assert len(logged) == 1 and f"{READER} (address 1)" in logged[0], logged
        assert ": 53 81 " in logged[0], f"the reply's bytes: {logged}"

    def stop(rig: AbuseRig) -> None:
        if rig.since(rig.state.pop("noise"), "device.offline", READER):
            hung_stop(rig, power_cycle=True)  # back, however it went, before the next case

    return Abuse(start, observe, stop)


def slow_observe(rig: AbuseRig, mark: int) -> None:
    card_through(rig)  # slow is not dead
    assert not rig.since(mark, "device.offline", READER)


def hung_observe(rig: AbuseRig, mark: int) -> None:
    (offline,) = rig.wait(mark, "device.offline", READER, timeout=20)
    assert offline["data"]["reason"].strip(), "an offline without a reason"


def hung_stop(rig: AbuseRig, power_cycle: bool = False) -> None:
    if power_cycle:
        rig.act(READER, "offline")
    mark = rig.mark()
    rig.act(READER, "online")
    rig.wait(mark, "device.online", READER, timeout=30)


OSDP = Family(
    name="osdp", driver="osdp", devices=stanza, ready=(READER,), env=KEYS,
    site={"access": {"gates": [{"id": "abuse-gate"}]}},
    abuses={
        "flood": Abuse(flood_start, flood_observe, flood_stop),
        "oversized": bad_reply("oversized"),  # a length field claiming 65,535 bytes
        "malformed": bad_reply("crc"),
        "time": not_applicable("OSDP carries no time: a reader reports a card or a status as it "
                               "happens and the gateway stamps it"),
        "slow": Abuse(lambda rig: rig.act(READER, "slow", seconds=0.1), slow_observe,
                      lambda rig: rig.act(READER, "slow", seconds=0)),
        "hung": Abuse(lambda rig: rig.act(READER, "offline"), hung_observe, hung_stop),
        "retry": not_applicable("OSDP's sequence number makes a repeated reply the link's "
                                "business: libosdp answers a retried poll with the same reply "
                                "and hands the driver each card read once; no identity of a "
                                "reading reaches the gateway"),
    })
