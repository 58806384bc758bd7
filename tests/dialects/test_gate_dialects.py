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
    isapi_controller,
    rig,
    run,
    section,
    until,
    webhook_controller,
)

GATE_DIALECTS = list(families()["http_gate"].values())
ONE_DOOR = [{"door": 1, "gate": "north-vehicle", "direction": "in", "door_id": "north-barrier"}]


def _controller(dialect: Dialect) -> dict[str, Any]:
    spoken = {"simulator": {"dialect": dialect.name}}
    if dialect.requires.get("dialect") == "webhook":
        return webhook_controller("decides", id=VEHICLE, doors=ONE_DOOR, **spoken)
    return isapi_controller("decides", doors=ONE_DOOR, **spoken)


@pytest.mark.parametrize("dialect", GATE_DIALECTS, ids=lambda d: d.name)
def test_the_receiver_holds_up_against_the_dialect(dialect: Dialect,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():  # the secrets the stanzas name, as a site gives them
        monkeypatch.setenv(name, value)

    async def scenario() -> None:
        async with rig(section(_controller(dialect))) as r:
            await r.act("enrol", card="1042")
            await r.act("present-card", card="1042")
            await r.act("present-card", card="2077")
            await until(lambda: len(r.sink.requests) == 2, "both reads")
            granted, refused = r.sink.requests
            assert (granted.gate, granted.credential, granted.decided_by_device) == (
                "north-vehicle", "1042", True)
            assert (refused.gate, refused.credential, refused.decided_by_device) == (
                "north-vehicle", "2077", False)
            for request in r.sink.requests:
                assert request.time.utcoffset() == timedelta(0)
                assert abs(request.time - datetime.now(UTC)) < timedelta(minutes=1)
            await r.act("force-door")
            await until(lambda: r.sink.of("campus.door.forced"), "the forced door")
            (forced,) = r.sink.of("campus.door.forced")
            assert forced.subject == "north-barrier"
            opened = await r.receiver.execute("open", {"gate": "north-vehicle"})
            assert opened["confirmed"] and r.controller().doors[1].opens == 1
            assert r.receiver.counts()["refused"] == {}

    run(scenario())
