"""The path to the alarm receiving centre, in-process over real sockets: each event code and its
restore, each key size, NAK, DUH, a silent primary, a repeat nobody counts twice, a wrong key,
a flood after an outage."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from gateway.alarm_centre import dc09
from gateway.kernel.events import (
    ALARM_PATH_FAILED,
    ALARM_PATH_RESTORED,
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    LINE_FAULT,
    LINE_RESTORED,
    STORAGE_FULL,
    STORAGE_OK,
    TAMPER,
    TAMPER_RESTORED,
    Availability,
    Event,
    FireFact,
    PointFact,
    Severity,
    StorageState,
    fire_event,
)
from tests.alarm_centre.harness import Rig, centre_doc, codes, until


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


def test_each_default_code_and_its_restore(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path, centre_doc(zones={"gate-house": 7})) as rig:
            await until(lambda: codes(rig.primary) == ["RR"], what="the start-up report")
            alarm = rig.press()
            await until(lambda: "PA" in codes(rig.primary), what="the panic")
            rig.reset(alarm)
            rig.fire()
            rig.fire(restored=True)
            point = PointFact(point="btn-b", zone="gate-house")
            a = rig.alarms
            for raised, cleared in ((TAMPER, TAMPER_RESTORED), (LINE_FAULT, LINE_RESTORED)):
                a.on_event(Event(raised, "io-0", point, Severity.MAJOR, "btn-b"))
                a.on_event(Event(cleared, "io-0", point, subject="btn-b"))
            a.on_event(Event(DEVICE_OFFLINE, "io-1", Availability(online=False), Severity.MAJOR))
            a.on_event(Event(DEVICE_ONLINE, "io-1", Availability(online=True)))
            power = FireFact(condition="power_fault", point="system")
            a.on_event(fire_event("fire-panel-b", power, True))
            a.on_event(fire_event("fire-panel-b", power, False))
            a.on_event(Event(STORAGE_FULL, "gw1", StorageState(state_dir="var"), Severity.MAJOR))
            a.on_event(Event(STORAGE_OK, "gw1", StorageState(state_dir="var")))
            for open_alarm in a.open_alarms():  # the rest close once acknowledged
                if open_alarm.condition != "fire":
                    a.acknowledge(open_alarm.alarm_id, "guard1")
                else:
                    a.reset(open_alarm.alarm_id, "guard1")
            want = ["RR", "PA", "PR", "FA", "FR", "TA", "UT", "ET", "AT", "YX",
                    "TR", "UJ", "ER", "AR", "YZ"]
            await until(lambda: sorted(codes(rig.primary)) == sorted(want),
                        what=f"codes {want}, got {codes(rig.primary)}")
            panic = next(r for r in rig.primary.events() if r["code"] == "PA")
            assert panic["zone"] == 7 and panic["text"] == "gate-house io-0/btn-a"
            assert len(rig.path.queue) == 0
    run(scenario())


def test_contact_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path, centre_doc(protocol="ADM-CID", transport="udp")) as rig:
            await until(lambda: codes(rig.primary) == ["1305"], what="the start-up report")
            alarm = rig.press()
            rig.reset(alarm)
            await until(lambda: codes(rig.primary) == ["1305", "1120", "3120"],
                        what=f"Contact ID over UDP, got {codes(rig.primary)}")
    run(scenario())


@pytest.mark.parametrize("size", dc09.KEY_SIZES)
def test_encrypted_with_each_key_size(tmp_path: Path, size: int) -> None:
    key = tmp_path / "arc.key"
    key.write_text(bytes(range(size)).hex())

    async def scenario() -> None:
        async with Rig(tmp_path, centre_doc(key={"file": str(key)})) as rig:
            rig.press()
            await until(lambda: "PA" in codes(rig.primary), what="the encrypted panic")
            assert all(r["encrypted"] for r in rig.primary.received)
            assert rig.primary.counts["nak"] == 0
    run(scenario())


def test_a_wrong_key_is_a_failed_path(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.key", tmp_path / "theirs.key"
    ours.write_text("11" * 16)
    theirs.write_text("22" * 16)
    doc = centre_doc(key={"file": str(ours)})

    async def scenario() -> None:
        async with Rig(tmp_path, doc, {**doc, "key": {"file": str(theirs)}}) as rig:
            rig.press()
            failed = await until(lambda: [f for f in rig.facts if f.type is ALARM_PATH_FAILED],
                                 what="alarm_path.failed")
            assert "NAK" in failed[0].payload.reason  # type: ignore[attr-defined]
            assert rig.primary.events() == [] and len(rig.path.queue) == 2  # kept
            assert any(a.condition == "alarm_path" for a in rig.alarms.open_alarms())
    run(scenario())


def test_nak_for_the_clock_is_answered_with_the_centres_time(tmp_path: Path) -> None:
    key = tmp_path / "arc.key"
    key.write_text("33" * 16)

    async def scenario() -> None:
        async with Rig(tmp_path, centre_doc(key={"file": str(key)})) as rig:
            await until(lambda: codes(rig.primary) == ["RR"], what="the start-up report")
            await rig.primary.act("clock", {"offset": 300})  # the centre's clock is 5 min on
            rig.press()
            await until(lambda: "PA" in codes(rig.primary), what="the panic after a NAK")
            assert rig.primary.counts["nak"] >= 1
            assert 290 < rig.path.clock_offset < 310
            assert rig.path.status()["clock_offset_s"] == round(rig.path.clock_offset)
            assert not [f for f in rig.facts if f.type is ALARM_PATH_FAILED]
    run(scenario())


def test_duh_fails_the_path_and_the_message_waits(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path, centre_doc()) as rig:
            await until(lambda: codes(rig.primary) == ["RR"], what="the start-up report")
            await rig.primary.act("forget", {})
            rig.press()
            failed = await until(lambda: [f for f in rig.facts if f.type is ALARM_PATH_FAILED],
                                 what="alarm_path.failed")
            assert "DUH" in failed[0].payload.reason  # type: ignore[attr-defined]
            assert rig.path.status()["receivers"]["receiver-1"]["state"] == "failed"
            await rig.primary.act("know", {})
            await until(lambda: "PA" in codes(rig.primary), what="the panic once known")
            await until(lambda: [f for f in rig.facts if f.type is ALARM_PATH_RESTORED],
                        what="alarm_path.restored")
            assert not any(a.condition == "alarm_path" and a.active
                           for a in rig.alarms.open_alarms())
    run(scenario())


def test_a_silent_primary_hands_over_to_the_backup(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path, centre_doc(receivers=2)) as rig:
            await until(lambda: codes(rig.primary) == ["RR"], what="the start-up report")
            await until(lambda: rig.path.status()["receivers"]["receiver-2"]["state"] == "up",
                        what="the backup supervised")
            await rig.primary.act("silent", {})
            failed = await until(lambda: [f for f in rig.facts if f.type is ALARM_PATH_FAILED],
                                 what="alarm_path.failed")
            assert failed[0].subject == "receiver-1"
            assert failed[0].payload.active == "receiver-2"  # type: ignore[attr-defined]
            rig.press()
            await until(lambda: "PA" in codes(rig.backup), what="the panic at the backup")
            assert "PA" not in codes(rig.primary)
            status = rig.path.status()
            assert status["active"] == "receiver-2" and status["up"]
            await rig.primary.act("normal", {})
            await until(lambda: [f for f in rig.facts if f.type is ALARM_PATH_RESTORED],
                        what="the primary restored")
            assert rig.path.status()["active"] == "receiver-1"
    run(scenario())


def test_a_lost_ack_is_sent_again_and_not_counted_twice(tmp_path: Path) -> None:
    key = tmp_path / "arc.key"
    key.write_text("44" * 24)

    async def scenario() -> None:
        async with Rig(tmp_path, centre_doc(key={"file": str(key)}, attempts=5)) as rig:
            await until(lambda: codes(rig.primary) == ["RR"], what="the start-up report")
            await rig.primary.act("slow", {"delay": 0.5})  # takes it; its ACK comes too late
            rig.press()
            await until(lambda: rig.primary.counts["duplicates"] >= 1, what="a repeat")
            await rig.primary.act("normal", {})
            await until(lambda: len(rig.path.queue) == 0, what="the ACK")
            panics = [r for r in rig.primary.events() if r["code"] == "PA"]
            assert len(panics) >= 2 and [r["duplicate"] for r in panics][1:] == [True] * (
                len(panics) - 1)
            assert len({(r["sequence"], r["time"]) for r in panics}) == 1  # the same message
            assert codes(rig.primary).count("PA") == 1
    run(scenario())


def test_a_flood_after_an_outage_arrives_in_order_life_safety_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path, centre_doc()) as rig:
            await until(lambda: codes(rig.primary) == ["RR"], what="the start-up report")
            await rig.primary.act("down", {})
            for n in range(20):
                point = PointFact(point=f"t{n}", zone="z")
                rig.alarms.on_event(Event(TAMPER, "io-0", point, Severity.MAJOR, f"t{n}"))
                if n % 5 == 4:
                    rig.press(point=f"p{n}")
            await until(lambda: len(rig.path.queue) == 24, what="24 queued")
            await rig.primary.act("normal", {})
            await until(lambda: len(codes(rig.primary)) == 25, what="all 24 at the centre")
            got = [r["text"].split("/")[-1] for r in rig.primary.events()][1:]
            assert got == ["p4", "p9", "p14", "p19", *(f"t{n}" for n in range(20))]
    run(scenario())
