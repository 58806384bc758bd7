"""sc_desync: a reader whose secure channel fails after it worked raises a device alarm of its
own (not only an offline reader) and it ends once a secure session is back. Driver (libosdp CP)
and simulated reader (libosdp PD) over TCP; the alarm's condition is the gateway's own
classification of the event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from drivers.osdp import driver as driver_module
from gateway.alarms import classify
from tests.osdp.support import Rig, bus, free_port, grant, reader, running, until

Run = Callable[..., Any]
DESYNC, RESTORED = "campus.access.reader_sc_desync", "campus.access.reader_sc_restored"


def sc_events(rig: Rig) -> list[tuple[str, str]]:
    return [(e.type.name, e.payload.model_dump()["detail"]) for e in rig.sink.events
            if e.type.name in (DESYNC, RESTORED)]


def test_a_reader_whose_key_changed_behind_the_gateways_back_raises_sc_desync(
        run: Run) -> None:
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN"),
                  reader("gate-1-out", 2, "OSDP_TEST_KEY_OUT", direction="out")],
                 tcp_port=free_port())

    async def scenario() -> None:
        async with running(config, grant) as rig:
            sim = rig.sims.reader("gate-1-in")
            await sim.act("wrong-key", {})
            await until(lambda: sc_events(rig), 15, what="sc_desync")
            ((kind, detail),) = sc_events(rig)
            assert kind == DESYNC
            assert detail.startswith("secure channel fails after it worked: secure channel "
                                     "refused"), detail
            raised = rig.sink.of(DESYNC)[0]
            assert (raised.device_id, raised.subject, raised.severity.value) == (
                "gate-1-in", "gate-1-in", "major")
            condition, active, point = classify(raised) or (None, None, None)
            assert (getattr(condition, "name", None), active, point) == (
                "sc_desync", True, "gate-1-in")
            assert not rig.sink.is_online("gate-1-in")

            await sim.act("restore-key", {})
            await rig.driver.execute("reconnect", {"reader": "gate-1-in"})  # not key_retry
            await until(lambda: len(sc_events(rig)) == 2, 15, what="sc_desync ends")
            assert sc_events(rig)[1] == (RESTORED, "secure session back")
            assert rig.sink.is_online("gate-1-in")
            assert rig.sink.of(DESYNC, "gate-1-out") == []

    run(scenario())


def test_a_reader_whose_secure_sessions_keep_breaking_raises_sc_desync(
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "SC_BREAK_WINDOW", 4.0)  # a minute is long for a test
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN")], tcp_port=free_port())

    async def scenario() -> None:
        async with running(config, grant) as rig:
            sim = rig.sims.reader("gate-1-in")
            session = rig.driver._sessions["gate-1-in"]
            for broken in range(1, 3):
                await sim.act("drop-session", {})
                await until(lambda n=broken: len(session.breaks) == n and session.online, 10,
                            what=f"session {broken} broken and set up again")
            assert sc_events(rig) == [], "two breaks are a line's hiccups"
            await sim.act("drop-session", {})
            await until(lambda: sc_events(rig), 10, what="sc_desync")
            assert sc_events(rig) == [(DESYNC, "its secure session broke 3 times in 4 s")]
            # the session is set up again at once, but sc_desync ends only once it holds
            await until(lambda: session.online, 10, what="set up again")
            assert len(sc_events(rig)) == 1
            await until(lambda: len(sc_events(rig)) == 2, 10, what="sc_desync ends")
            assert sc_events(rig)[1] == (RESTORED, "secure session back")
            await sim.present_card(40321)
            await until(lambda: sim.pulses(0) == 1, what="cards served throughout")

    run(scenario())
