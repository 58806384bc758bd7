"""OSDP card readers on an RS-485 line (a pseudo-terminal), secure channel enforced.

Misbehaviours are the simulator's (``simulators/osdp/``): ``chatter`` (a tamper switch
flipping), bus ``noise`` (garbage, a bad CRC, a frame header claiming 65,535 bytes), ``slow``
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


def flood_observe(rig: AbuseRig, mark: int) -> None:
    (flooding,) = rig.wait(mark, "device.flooding", READER, timeout=15)
    assert flooding["severity"] == "critical"


def flood_stop(rig: AbuseRig) -> None:
    mark = rig.mark()
    rig.act(READER, "chatter", on=False)
    rig.wait(mark, "device.flood_ended", READER, timeout=20)


NOISE_DEFECT = (
    "drivers/osdp (libosdp's CP) takes the reader offline for {what} on the line: libosdp logs "
    "{log} then 'Going offline for 300 seconds; Was in 'Online' state', and the gateway "
    "publishes device.offline 'the reader stopped answering (or broke off the secure channel "
    "session)' for a reader that answers: the noise is not just dropped and the poll retried; "
    "it comes back after 0.3 s to over 20 s, sometimes only once the reader's power is cycled")


def noise(kind: str, what: str, log: str) -> Abuse:
    def start(rig: AbuseRig) -> None:
        rig.state["noise"] = rig.mark()
        rig.act(BUS, "noise", kind=kind, size=256, seed=3)

    def observe(rig: AbuseRig, mark: int) -> None:
        card_through(rig)
        types = [e["type"] for e in rig.since(mark, "", READER) if ".alarm." not in e["type"]]
        assert types == [], f"nothing of the noise: {types}"

    def stop(rig: AbuseRig) -> None:
        if rig.since(rig.state.pop("noise"), "device.offline", READER):
            hung_stop(rig, power_cycle=True)  # back, however it went, before the next case

    return Abuse(start, observe, stop,
                 known_defect=NOISE_DEFECT.format(what=what, log=log))


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
    name="osdp", driver="osdp", devices=stanza, device=READER, ready=(READER,), env=KEYS,
    site={"access": {"gates": [{"id": "abuse-gate"}]}},
    abuses={
        "flood": Abuse(lambda rig: rig.act(READER, "chatter", period=0.05), flood_observe,
                       flood_stop),
        "oversized": noise("oversized", "a frame header claiming 65,535 bytes",
                           "nothing"),
        "malformed": noise("bad-crc", "one reply with a wrong CRC",
                           "'Invalid crc 0x0608/0x0000'"),
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
