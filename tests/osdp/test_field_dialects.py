"""Readers as the field has them, not as our simulator first spoke: each test drives the driver
(libosdp CP) against a simulated reader (libosdp PD) over TCP, with the gateway's decisions made
by the test (the only fake)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from osdp import Command

from drivers.osdp.driver import HELD_WINDOW
from gateway.kernel.access import AccessDecision, AccessRequest
from simulators.osdp import OsdpSimulators
from tests.osdp.support import Rig, bus, free_port, grant, reader, running, until

Run = Callable[..., Any]


def test_a_read_the_reader_held_through_an_outage_is_refused_as_stale(run: Run) -> None:
    # libosdp's PD keeps an event it could not send in its queue and sends it on the first poll
    # after the Control Panel is back: the card's holder has long gone by then.
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN")], tcp_port=free_port(),
                 stale_read="0.5s", reconnect_max="1s")

    async def scenario() -> None:
        async with running(config, grant) as rig:
            sim = rig.sims.reader("gate-1-in")
            await sim.act("line-cut", {})  # the pair, not the power: it keeps its queue
            await until(lambda: not rig.sink.is_online("gate-1-in"), what="offline")
            await sim.present_card(40321)
            await asyncio.sleep(1.0)  # an outage longer than stale_read
            assert not rig.sink.requests
            await sim.act("line-mend", {})
            await until(lambda: rig.sink.requests, 15, what="the held read")
            (request,) = rig.sink.requests
            assert (request.credential, request.refused) == ("40321", "stale")
            await until(lambda: (sim.led()["last_temporary"] or {}).get("color") == "red",
                        what="red LED")
            assert sim.pulses(0) == 0, "a stale read never opens the lane"

    run(scenario())


def test_a_fresh_read_after_an_outage_is_decided(run: Run) -> None:
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN")], tcp_port=free_port(),
                 stale_read="0.5s", reconnect_max="1s")

    async def scenario() -> None:
        async with running(config, grant) as rig:
            sim = rig.sims.reader("gate-1-in")
            await sim.act("line-cut", {})
            await until(lambda: not rig.sink.is_online("gate-1-in"), what="offline")
            await asyncio.sleep(1.0)  # an outage longer than stale_read
            await sim.act("line-mend", {})
            await until(lambda: rig.sink.is_online("gate-1-in"), 15, what="back online")
            await until(lambda: sim.led()["permanent"]["color"] == "red", what="idle LED")
            # a read this soon after the return is taken as held (the read carries no time):
            # that person presents again; one after it is decided
            await asyncio.sleep(HELD_WINDOW + 0.1)
            await sim.present_card(40321)
            await until(lambda: sim.pulses(0) == 1, what="relay pulse")
            (request,) = rig.sink.requests
            assert request.refused is None

    run(scenario())


def test_a_reader_that_answers_late_is_a_timing_fault_not_a_missing_secure_channel(
        run: Run) -> None:
    # Some field buses (long RS-485 runs, serial-to-Ethernet converters) answer in 300 ms;
    # libosdp 3.2 waits 200 ms (OSDP_RESP_TOUT_MS, fixed when it is built), then takes the late
    # reply as a sequence mismatch. That is timing: retried on the back-off, not after
    # key_retry, and never "replace the reader".
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN")], tcp_port=free_port(),
                 reconnect_max="1s")

    async def scenario() -> None:
        rig = Rig(config, grant)
        try:
            await rig.sims.start()
            sim = rig.sims.reader("gate-1-in")
            await sim.act("slow", {"seconds": 0.3})
            rig._task = asyncio.create_task(rig.driver.run())
            await until(lambda: rig.sink.availability_of("gate-1-in"), 15, what="a reason")
            online, reason = rig.sink.availability_of("gate-1-in")[-1]
            assert not online
            assert "late" in reason and "200 ms" in reason, reason
            assert "no secure channel support" not in reason, reason
            await sim.act("slow", {"seconds": 0})
            await until(lambda: rig.sink.is_online("gate-1-in"), 15, what="online on the back-off")
        finally:
            await rig.stop()

    run(scenario())


def test_one_led_command_with_both_halves_flashes_then_keeps_the_permanent(run: Run) -> None:
    # osdp_LED (OSDP 2.2 section 6.10; libosdp's struct osdp_cmd_led) carries a temporary and
    # a permanent half: the temporary runs for its timer, then the permanent shows. Our driver
    # sends them apart; other panels send one record. libosdp's Python PD binding hands over
    # one half only, so the record is given to the reader's command handler as libosdp's C PD
    # holds it.
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN")], tcp_port=free_port())
    sim = OsdpSimulators([config]).reader("gate-1-in")
    record = {"command": Command.LED, "reader": 0, "led_number": 0,
              "temporary": {"control_code": 2, "on_color": 2, "off_color": 0, "on_count": 2,
                            "off_count": 2, "timer_count": 5},
              "permanent": {"control_code": 1, "on_color": 1, "off_color": 0, "on_count": 5,
                            "off_count": 0}}

    async def scenario() -> None:
        assert sim._on_command(record) == (0, None)
        led = sim.led()
        assert led["showing"]["color"] == "green", led
        assert led["permanent"]["color"] == "red", led
        await until(lambda: sim.led()["color"] == "red", 5, what="the permanent after the flash")

    run(scenario())


def test_a_temporary_half_alone_leaves_the_permanent_as_it_was(run: Run) -> None:
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN")], tcp_port=free_port())
    sim = OsdpSimulators([config]).reader("gate-1-in")
    blue = {"control_code": 1, "on_color": 4, "off_color": 0, "on_count": 5, "off_count": 0}
    assert sim._on_command({"command": Command.LED, "reader": 0, "led_number": 0,
                            "permanent": blue}) == (0, None)
    sim._on_command({"command": Command.LED, "reader": 0, "led_number": 0,
                     "temporary": {"control_code": 2, "on_color": 1, "off_color": 0,
                                   "on_count": 1, "off_count": 1, "timer_count": 1},
                     "permanent": {"control_code": 0}})
    assert sim.led()["permanent"]["color"] == "blue"


def test_a_read_that_waited_behind_a_slow_decision_past_stale_read_is_refused(
        run: Run) -> None:
    # Reads at one reader are decided one at a time, in order: the second of two cards waits
    # for the first one's decision (here a slow one) and is too old when its turn comes.
    config = bus([reader("gate-1-in", 1, "OSDP_TEST_KEY_IN")], tcp_port=free_port(),
                 stale_read="0.5s")

    async def scenario() -> None:
        async with running(config, grant) as rig:
            sink_decide = rig.sink.decide

            async def slow_decide(request: AccessRequest) -> AccessDecision:
                if not rig.sink.requests:
                    await asyncio.sleep(1.0)
                return await sink_decide(request)

            rig.sink.decide = slow_decide  # type: ignore[method-assign]
            sim = rig.sims.reader("gate-1-in")
            await sim.present_card(111)
            await sim.present_card(222)
            await until(lambda: len(rig.sink.requests) == 2, 10, what="both reads")
            first, second = rig.sink.requests
            assert (first.credential, first.refused) == ("111", None)
            assert (second.credential, second.refused) == ("222", "stale")
            await until(lambda: sim.pulses(0) == 1, what="the first one's pulse")

    run(scenario())
