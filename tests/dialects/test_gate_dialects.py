"""The gate-controller receiver against every controller dialect the simulator speaks
(simulators/http_gate/dialects.py), over real sockets: a card the controller knows is granted and
one it does not know refused, at the right gate with a UTC time; a forced door is an alarm; the
gateway's open command reaches the door; nothing the controller pushes is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulators.dialects import Dialect, families
from tests.http_gate.support import (
    ENV,
    VEHICLE,
    grant_cards,
    isapi_controller,
    rig,
    run,
    section,
    until,
    webhook_controller,
)

GATE_DIALECTS = list(families()["http_gate"].values())
ONE_DOOR = [{"door": 1, "gate": "north-vehicle", "direction": "in", "door_id": "north-barrier"}]


def _controller(dialect: Dialect, mode: str) -> dict[str, Any]:
    spoken = {"simulator": {"dialect": dialect.name}}
    if dialect.requires.get("dialect") == "webhook":
        return webhook_controller(mode, id=VEHICLE, doors=ONE_DOOR, **spoken)
    return isapi_controller(mode, doors=ONE_DOOR, **spoken)


@pytest.mark.parametrize("mode", ["decides", "asks"])
@pytest.mark.parametrize("dialect", GATE_DIALECTS, ids=lambda d: d.name)
def test_the_receiver_holds_up_against_the_dialect(dialect: Dialect, mode: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``decides``: the controller decides and reports; ``asks``: it asks the gateway
    (remote verification) and opens on the answer."""
    for name, value in ENV.items():  # the secrets the stanzas name, as a site gives them
        monkeypatch.setenv(name, value)

    async def scenario() -> None:
        async with rig(section(_controller(dialect, mode)), grant_cards("1042")) as r:
            await r.act("enrol", card="1042")
            device = r.controller()
            for card, opens in (("1042", True), ("2077", False)):
                await r.act("present-card", card=card)
                await until(lambda: (device.last_access or {}).get("granted") is not None,
                            f"the controller to decide or be answered for {card}")
                assert device.last_access is not None
                assert (device.last_access["card"], device.last_access["granted"]) == (
                    card, opens)
            await until(lambda: len(r.sink.requests) == 2, "both reads")
            granted, refused = r.sink.requests
            by_device = {"decides": (True, False), "asks": (None, None)}[mode]
            assert (granted.gate, granted.credential, granted.decided_by_device) == (
                "north-vehicle", "1042", by_device[0])
            assert (refused.gate, refused.credential, refused.decided_by_device) == (
                "north-vehicle", "2077", by_device[1])
            for request in r.sink.requests:
                assert request.time.utcoffset() == timedelta(0)
                assert abs(request.time - datetime.now(UTC)) < timedelta(minutes=1)
            await r.act("force-door")
            await until(lambda: r.sink.of("campus.door.forced"), "the forced door")
            (forced,) = r.sink.of("campus.door.forced")
            assert forced.subject == "north-barrier"
            opened = await r.receiver.execute("open", {"gate": "north-vehicle"})
            assert opened["confirmed"] and device.doors[1].opens == 1
            assert r.receiver.counts()["refused"] == {}

    run(scenario())
