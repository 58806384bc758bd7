"""Simulated readers (libosdp PDs) <-> the driver (libosdp CP) over TCP and over a pty, with the
gateway's decisions made by the test (the only fake). What a person at the reader would see is
read back from the simulated reader: its LED, its buzzer, its relay."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from drivers.osdp import driver as driver_module
from drivers.osdp.models import OsdpBusConfig
from gateway.kernel.access import AccessDecision, AccessRequest
from gateway.kernel.ports import ActionError
from tests.osdp.support import Rig, bus, free_port, grant, reader, running, until

Run = Callable[..., Any]
DOOR = {"id": "door-1", "contact_input": 0, "rex_input": 1, "expect_open_within": "5s"}


def deny(request: AccessRequest) -> AccessDecision:
    return AccessDecision(granted=False, reason="unknown_credential")


def two_readers(serial: Path | None = None, **extra: Any) -> OsdpBusConfig:
    readers = [reader("gate-1-in", 1, "OSDP_TEST_KEY_IN", door=DOOR),
               reader("gate-1-out", 2, "OSDP_TEST_KEY_OUT", direction="out",
                      card_format={"type": "wiegand34"})]
    if serial is not None:
        return bus(readers, serial=serial, **extra)
    return bus(readers, tcp_port=free_port(), **extra)


def idle_color(rig: Rig, reader_id: str, color: str) -> bool:
    return bool(rig.sims.reader(reader_id).led()["permanent"]["color"] == color)


async def relay_pulses(rig: Rig, reader_id: str) -> int:
    return int((await rig.sims.reader(reader_id).state())["relay"]["pulses"])


def test_a_granted_card_pulses_the_relay_and_shows_green(run: Run) -> None:
    async def scenario() -> None:
        async with running(two_readers(), grant) as rig:
            await rig.sims.reader("gate-1-out").present_card(40321)
            reader_in = rig.sims.reader("gate-1-out")
            await until(lambda: reader_in.pulses(0) == 1, what="relay pulse")
            (request,) = rig.sink.requests
            assert (request.device_id, request.reader, request.gate, request.direction,
                    request.credential, request.pin) == (
                "gate-1-bus", "gate-1-out", "gate-1", "out", "40321", None)
            await until(lambda: (reader_in.led()["last_temporary"] or {}).get("color") == "green",
                        what="green LED")
            await until(lambda: reader_in.recent()[-1]["command"] == "buzzer", what="beep")
            state = await reader_in.state()
            assert state["buzzer"]["last"]["count"] == 1
            assert state["secure_channel"] is True
            assert await relay_pulses(rig, "gate-1-in") == 0, "only the reader that read it"

    run(scenario())


def test_a_denied_card_shows_red_and_never_moves_the_relay(run: Run) -> None:
    async def scenario() -> None:
        async with running(two_readers(), deny) as rig:
            sim = rig.sims.reader("gate-1-in")
            await sim.present_card(7)
            await until(lambda: (sim.led()["last_temporary"] or {}).get("color") == "red",
                        what="red LED")
            assert [r.credential for r in rig.sink.requests] == ["7"]
            await until(lambda: sim.recent()[-1]["command"] == "buzzer", what="beep")
            state = await sim.state()
            assert state["buzzer"]["last"]["count"] == 2
            assert state["relay"]["pulses"] == 0 and not state["relay"]["on"]
            assert all(c["command"] != "output" or c["control_code"] != 5
                       for c in state["recent_commands"])

    run(scenario())


def test_card_and_pin(run: Run) -> None:
    def decide(request: AccessRequest) -> AccessDecision:
        if request.pin is None:
            return AccessDecision(granted=False, reason="pin_required")
        if request.pin == "2468":
            return AccessDecision(granted=True, person_id="p-2")
        return AccessDecision(granted=False, reason="pin_wrong")

    async def scenario() -> None:
        async with running(two_readers(), decide) as rig:
            sim = rig.sims.reader("gate-1-in")
            await sim.present_card(555)
            await until(lambda: (sim.led()["last_temporary"] or {}).get("color") == "amber",
                        what="amber LED asking for the PIN")
            assert sim.pulses(0) == 0
            await sim.press_keys("13")
            await sim.press_keys("*2468#")  # '*' clears what was typed
            await until(lambda: sim.pulses(0) == 1, what="relay pulse after the PIN")
            assert [(r.credential, r.pin) for r in rig.sink.requests] == [
                ("555", None), ("555", "2468")]
            await until(lambda: sim.led()["last_temporary"]["color"] == "green", what="green")

            await sim.present_card(555)
            await until(lambda: len(rig.sink.requests) == 3)
            await sim.press_keys("1111#")
            await until(lambda: len(rig.sink.requests) == 4)
            await until(lambda: sim.led()["last_temporary"]["color"] == "red", what="red")
            assert sim.pulses(0) == 1, "a wrong PIN opens nothing"

    run(scenario())


def test_a_card_that_fails_its_parity_is_never_offered(run: Run) -> None:
    async def scenario() -> None:
        async with running(two_readers(), grant) as rig:
            sim = rig.sims.reader("gate-1-in")
            await sim.present_card(12345, bad_parity=True)
            await until(lambda: (sim.led()["last_temporary"] or {}).get("color") == "red",
                        what="red LED for a bad read")
            assert rig.sink.requests == []
            assert sim.pulses(0) == 0

    run(scenario())


def test_wrong_key_reader_is_offline_with_its_reason_and_does_not_stall_the_bus(
        tmp_path: Path, run: Run) -> None:
    config = two_readers(serial=tmp_path / "ttyOSDP0")

    async def scenario() -> None:
        rig = Rig(config, grant)
        rig.sims.reader("gate-1-out").key_state = "wrong"
        try:
            await rig.start(online=("gate-1-in",))
            await until(lambda: rig.sink.availability_of("gate-1-out"), what="a reason")
            ((online, reason),) = rig.sink.availability_of("gate-1-out")
            assert not online and "secure channel refused" in reason
            await rig.sims.reader("gate-1-out").present_card(1)
            await rig.sims.reader("gate-1-in").present_card(2)
            await until(lambda: rig.sims.reader("gate-1-in").pulses(0) == 1, what="pulse")
            assert [r.reader for r in rig.sink.requests] == ["gate-1-in"]
            assert rig.sims.reader("gate-1-out").pulses(0) == 0
            assert not (await rig.sims.reader("gate-1-out").state())["secure_channel"]
        finally:
            await rig.stop()
        assert not (tmp_path / "ttyOSDP0").exists()

    run(scenario())


def test_install_key_gives_a_factory_fresh_reader_its_key(run: Run) -> None:
    config = two_readers()

    async def scenario() -> None:
        rig = Rig(config, grant)
        fresh = rig.sims.reader("gate-1-out")
        fresh.key_state = "install_mode"
        try:
            await rig.start(online=("gate-1-in",))
            await until(lambda: rig.sink.availability_of("gate-1-out"), what="a reason")
            assert "install mode" in rig.sink.availability_of("gate-1-out")[-1][1]
            result = await rig.driver.execute("install_key", {"reader": "gate-1-out"})
            assert result == {"reader": "gate-1-out", "installed": True, "error": ""}
            assert rig.sink.is_online("gate-1-out")
            state = await fresh.state()
            assert state["key"] == "installed" and state["secure_channel"]
            await fresh.present_card(99)
            await until(lambda: fresh.pulses(0) == 1, what="pulse with the installed key")
            with pytest.raises(ActionError, match="already online"):
                await rig.driver.execute("install_key", {"reader": "gate-1-out"})
        finally:
            await rig.stop()

    run(scenario())


def test_install_key_refuses_a_reader_with_another_key(run: Run) -> None:
    async def scenario() -> None:
        rig = Rig(two_readers(install_window="3s"), grant)
        rig.sims.reader("gate-1-out").key_state = "wrong"
        try:
            await rig.start(online=("gate-1-in",))
            result = await rig.driver.execute("install_key", {"reader": "gate-1-out"})
            assert result["installed"] is False and result["error"]
            assert not rig.sink.is_online("gate-1-out")
            assert (await rig.sims.reader("gate-1-out").state())["key"] == "wrong"
        finally:
            await rig.stop()

    run(scenario())


def test_tamper_and_power(run: Run) -> None:
    async def scenario() -> None:
        async with running(two_readers(), grant) as rig:
            sim = rig.sims.reader("gate-1-out")
            for action in ("tamper", "tamper-restore", "power-fault", "power-restore"):
                await sim.act(action, {})
            names = ["campus.access.reader_tamper", "campus.access.reader_tamper_restored",
                     "campus.access.reader_power_fault", "campus.access.reader_power_restored"]
            await until(lambda: [e.type.name for e in rig.sink.events] == names,
                        what=f"{names}, got {[e.type.name for e in rig.sink.events]}")
            tamper = rig.sink.events[0]
            assert tamper.device_id == "gate-1-out"
            assert tamper.payload.model_dump()["gate"] == "gate-1"

    run(scenario())


def test_door_opened_forced_exit(run: Run) -> None:
    async def scenario() -> None:
        async with running(two_readers(), grant) as rig:
            def opened() -> list[str]:
                return [e.payload.model_dump()["granted_by"]
                        for e in rig.sink.of("campus.door.opened")]


            door = rig.sims.door("door-1")
            await door.act("force", {"seconds": 0.2})
            await until(lambda: rig.sink.of("campus.door.closed"), what="closed")
            assert opened() == [""], "nothing let it open"

            await rig.sims.reader("gate-1-in").present_card(4)
            await until(lambda: rig.sims.reader("gate-1-in").pulses(0) == 1)
            await door.act("open", {"seconds": 0.2})
            await until(lambda: len(rig.sink.of("campus.door.closed")) == 2, what="closed")
            assert opened() == ["", "grant"]

            await door.act("exit", {"seconds": 0.2})
            await until(lambda: len(rig.sink.of("campus.door.closed")) == 3, what="closed")
            (exit_request,) = rig.sink.of("campus.door.exit_request")
            assert exit_request.payload.model_dump()["door"] == "door-1"
            assert opened() == ["", "grant", "exit_request"]
            assert [e.device_id for e in rig.sink.events] == ["gate-1-in"] * 7

    run(scenario())


def test_gate_mode_free_holds_the_relay_and_open_pulses_it(run: Run) -> None:
    async def scenario() -> None:
        async with running(two_readers(), grant) as rig:
            result = await rig.driver.execute("gate_mode", {"gate": "gate-1", "mode": "free"})
            assert result == {"gate": "gate-1", "mode": "free", "confirmed": True, "error": ""}
            for reader_id in ("gate-1-in", "gate-1-out"):
                state = await rig.sims.reader(reader_id).state()
                assert state["relay"]["on"] and state["outputs"][0]["permanent"]
                await until(partial(idle_color, rig, reader_id, "green"), what="green idle")

            result = await rig.driver.execute("gate_mode", {"gate": "gate-1", "mode": "locked"})
            assert result["confirmed"] is True
            assert not (await rig.sims.reader("gate-1-in").state())["relay"]["on"]
            with pytest.raises(ActionError, match="locked"):
                await rig.driver.execute("open", {"gate": "gate-1"})

            await rig.driver.execute("gate_mode", {"gate": "gate-1", "mode": "normal"})
            result = await rig.driver.execute("open", {"gate": "gate-1"})
            assert result["confirmed"] is True and result["readers"] == ["gate-1-in",
                                                                         "gate-1-out"]
            assert [await relay_pulses(rig, r) for r in ("gate-1-in", "gate-1-out")] == [1, 1]
            assert rig.sink.requests == [], "no decision was asked for"

            with pytest.raises(ActionError, match="unknown action 'unlock'"):
                await rig.driver.execute("unlock", {"gate": "gate-1"})
            with pytest.raises(ActionError, match="mode must be one of"):
                await rig.driver.execute("gate_mode", {"gate": "gate-1", "mode": "open"})
            with pytest.raises(ActionError, match="no reader of gate 'gate-9'"):
                await rig.driver.execute("open", {"gate": "gate-9"})

    run(scenario())


def test_a_reader_that_loses_power_comes_back_by_itself(run: Run) -> None:
    async def scenario() -> None:
        async with running(two_readers(reconnect_max="2s"), grant) as rig:
            sim = rig.sims.reader("gate-1-in")
            await rig.driver.execute("gate_mode", {"gate": "gate-1", "mode": "free"})
            await sim.act("offline", {})
            await until(lambda: not rig.sink.is_online("gate-1-in"), what="offline")
            assert "stopped answering" in rig.sink.availability_of("gate-1-in")[-1][1]
            assert rig.sink.is_online("gate-1-out")
            await sim.act("online", {})
            await until(lambda: rig.sink.is_online("gate-1-in"), 15, what="back online")
            await until(lambda: sim.output_on(0), what="free mode applied again")

    run(scenario())


@pytest.mark.parametrize("kind", ["crc", "oversized"])
def test_one_malformed_reply_is_dropped_and_the_reader_stays_online(kind: str,
                                                                    run: Run) -> None:
    async def scenario() -> None:
        async with running(two_readers(), grant) as rig:
            sim = rig.sims.reader("gate-1-in")
            session = rig.driver._sessions["gate-1-in"]
            await sim.act("bad-reply", {"kind": kind})
            await until(lambda: session.dropped_replies == 1, what="the reply dropped")
            await sim.present_card(40321)
            await until(lambda: rig.sink.requests, 15, what="the card read")
            assert rig.sink.availability_of("gate-1-in") == [
                (True, "online, secure channel active")], "no offline for a reader that answers"

    run(scenario())


def test_repeated_malformed_replies_take_the_reader_offline_with_that_reason(
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "SPOILED_WINDOW", 5.0)  # a minute is long for a test

    async def scenario() -> None:
        async with running(two_readers(), grant) as rig:
            sim = rig.sims.reader("gate-1-in")
            session = rig.driver._sessions["gate-1-in"]
            await sim.act("bad-reply", {"kind": "crc", "count": 5})
            await until(lambda: not rig.sink.is_online("gate-1-in"), 15, what="offline")
            reason = rig.sink.availability_of("gate-1-in")[-1][1]
            assert reason.startswith("malformed replies: 3 in 5 s; the last: ")
            assert "a wrong CRC 0x" in reason
            await until(lambda: session.dropped_replies == 5, what="every spoiled reply")
            await until(lambda: session.online, what="set up again")  # serving cards again
            await until(lambda: rig.sink.is_online("gate-1-in"), 15, what="told online")
            # told offline once, online once the noise has passed: no flapping at its rate
            assert [online for online, _ in rig.sink.availability_of("gate-1-in")] == [
                True, False, True]
            assert rig.sink.is_online("gate-1-out")

    run(scenario())


@pytest.mark.parametrize("link", ["tcp", "pty"])
def test_a_dead_link_takes_every_reader_offline(link: str, tmp_path: Path, run: Run) -> None:
    config = two_readers(serial=tmp_path / "ttyOSDP1") if link == "pty" else two_readers()

    async def scenario() -> None:
        async with running(config, grant) as rig:
            rig.sims.buses[0].line.unplug()
            await until(lambda: not rig.sink.is_online("gate-1-in")
                        and not rig.sink.is_online("gate-1-out"), what="both offline")
            assert "bus:" in rig.sink.availability_of("gate-1-out")[-1][1]

    run(scenario())
