"""The OSDP driver against every reader dialect the simulator speaks (simulators/osdp/
dialects.py), driver (libosdp CP) and simulated readers (libosdp PDs) over TCP: a reader the
dialect leaves online has its card decided, its LED, buzzer and relay driven and stays online
without a flap; one it takes offline is reported with the reason the record names, and the
other reader on the bus goes on serving cards."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from simulators.dialects import Dialect, families
from simulators.osdp.reader import SimulatedReader
from tests.osdp.support import KEYS, Rig, bus, free_port, grant, reader, running, until

READER_DIALECTS = list(families()["osdp"].values())


def lit(sim: SimulatedReader, color: str) -> bool:
    return (sim.led()["last_temporary"] or {}).get("color") == color


async def a_card_is_granted(rig: Rig, reader_id: str, number: int) -> None:
    sim = rig.sims.reader(reader_id)
    pulses = sim.pulses(0)
    await sim.present_card(number)
    await until(lambda: sim.pulses(0) == pulses + 1, 10, what=f"{reader_id}: relay pulse")
    await until(partial(lit, sim, "green"), what=f"{reader_id}: green LED")
    await until(lambda: sim.recent()[-1]["command"] == "buzzer", what=f"{reader_id}: beep")


async def supervised_status_makes_no_news(rig: Rig, sim: SimulatedReader) -> None:
    """Status sent unasked and unchanged is no event; a change is one, once."""
    reports = sim.status_reports
    await until(lambda: sim.status_reports >= reports + 2, 5, what="status sent unasked")
    assert rig.sink.of("campus.access.reader_tamper") == []
    await sim.act("tamper", {})
    await until(lambda: rig.sink.of("campus.access.reader_tamper"), what="tamper")
    reports = sim.status_reports
    await until(lambda: sim.status_reports >= reports + 1, 5, what="status sent again")
    assert len(rig.sink.of("campus.access.reader_tamper")) == 1


@pytest.mark.parametrize("dialect", READER_DIALECTS, ids=lambda d: d.name)
def test_the_driver_holds_up_against_the_dialect(dialect: Dialect,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN", simulator={"dialect": dialect.name}),
                  reader("gate-1-out", 2, "OSDP_TEST_KEY_OUT", direction="out")],
                 tcp_port=free_port(), reconnect_max="1s")
    online = bool(dialect.status["online"])

    async def scenario() -> None:
        async with running(config, grant, ("gate-1-in", "gate-1-out") if online
                           else ("gate-1-out",)) as rig:
            if online:
                await a_card_is_granted(rig, "gate-1-in", 40321)
                result = await rig.driver.execute("open", {"gate": "gate-1"})
                assert result["confirmed"] is True, result
                if dialect.settings.get("status_every"):
                    await supervised_status_makes_no_news(rig, rig.sims.reader("gate-1-in"))
                assert rig.sink.availability_of("gate-1-in") == [
                    (True, "online, secure channel active")], "no flap"
            else:
                await until(lambda: rig.sink.availability_of("gate-1-in"), 10, what="a reason")
                reasons = [why for _, why in rig.sink.availability_of("gate-1-in")]
                assert all(dialect.status["reason"] in why for why in reasons), reasons
                assert not rig.sink.is_online("gate-1-in")
            await a_card_is_granted(rig, "gate-1-out", 7)
            assert rig.sink.is_online("gate-1-out")

    asyncio.run(asyncio.wait_for(scenario(), 45))
