"""Every deny reason, the grants and what they change, decided by the real access control."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.commands import CommandError
from gateway.kernel.access import DENY_REASONS, AccessRequest
from tests.access.support import MONDAY_10, card, later, person, rig

T0 = MONDAY_10


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_each_deny_reason_is_given_where_it_applies(tmp_path: Path) -> None:
    seen: set[str] = set()

    async def scenario() -> None:
        async with rig(tmp_path, clock=lambda: T0) as r:  # visits are registered at T0
            await r.load(
                [person("s1"), person("s2"), person("t1", "staff"),
                 person("t2", "staff", gates=["staff-door"]),
                 person("t3", "staff", valid_from="2026-10-01T00:00:00Z"),
                 person("t4", "staff"), person("d1", "student")],
                [card("1001", "s1"), card("1002", "s2", status="revoked"),
                 card("1003", "t1", valid_until="2026-09-01T00:00:00Z"),
                 card("1004", "t2"), card("1005", "t3"), card("1006", "t4", pin="2468"),
                 card("1007", "d1"), card("1008", "s2", status="lost")])

            async def deny(reason: str, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                decision = await r.present(*args, **kwargs)
                assert not decision.granted and decision.reason == reason, (reason, decision)
                seen.add(reason)

            await deny("unknown_credential", "9999")
            await deny("revoked", "1002")
            await deny("revoked", "1008")
            await deny("expired", "1003")
            await deny("not_yet_valid", "1005")
            await deny("gate_not_allowed", "1004", gate="main-gate")
            # Saturday: the student schedule (school days) is closed
            await deny("outside_schedule", "1001", at=datetime(2026, 9, 12, 2, 0, tzinfo=UTC))
            # a holiday in term
            await deny("outside_schedule", "1001", at=datetime(2026, 10, 1, 2, 0, tzinfo=UTC))
            await deny("pin_required", "1006", gate="lab")
            await deny("pin_wrong", "1006", gate="lab", pin="1111")
            assert (await r.present("1006", gate="lab", pin="2468")).granted
            # a student leaving in school hours without a release
            assert (await r.present("1001")).granted
            await deny("no_release", "1001", direction="out", at=later(T0, minutes=5))
            # hard anti-passback in the dormitory: in twice
            assert (await r.present("1007", gate="dorm")).granted
            await deny("anti_passback", "1007", gate="dorm", at=later(T0, minutes=1))
            # lockdown
            r.modes.start_lockdown("chief", "drill")
            await deny("lockdown", "1004", gate="staff-door")
            r.modes.stop_lockdown("chief")
            # visitor pass used up
            visit = await r.command("visitor.add", {
                "name": "Ms Li", "host": "t1", "valid_from": "2026-09-07T01:00:00Z",
                "valid_until": "2026-09-07T04:00:00Z", "entries": 1})
            code = visit["pass_code"]
            assert (await r.present(code)).granted
            assert (await r.present(code, direction="out", at=later(T0, minutes=30))).granted
            await deny("visit_closed", code, at=later(T0, minutes=40))
            # a read a reader held while offline: refused unjudged, recorded, even a good card
            stale = await r.control.decide(AccessRequest(
                device_id="readers", reader="main-gate-in", gate="main-gate", direction="in",
                credential="1001", refused="stale", time=later(T0, minutes=50)))
            assert not stale.granted and stale.reason == "stale"
            assert r.of("access.denied")[-1].payload.reason == "stale"  # type: ignore[attr-defined]
            seen.add("stale")

    run(scenario())
    assert seen == set(DENY_REASONS)


def test_every_decision_is_an_event_without_names_or_full_card_numbers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path) as r:
            await r.load([person("s1", name="Wang Xiaoming")], [card("123456789", "s1")])
            await r.present("123456789")
            await r.present("000")
            granted, = r.of("access.granted")
            denied, = r.of("access.denied")
            assert granted.payload.person_id == "s1"  # type: ignore[attr-defined]
            assert granted.payload.name is None  # type: ignore[attr-defined]
            assert granted.payload.credential == "*****6789"  # type: ignore[attr-defined]
            assert denied.payload.reason == "unknown_credential"  # type: ignore[attr-defined]
            assert "Wang" not in granted.payload.model_dump_json()

    run(scenario())


def test_students_arrive_once_a_day_and_depart_with_a_release(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path) as r:
            await r.load([person("s1"), person("t1", "staff")], [card("1", "s1"), card("2", "t1")])
            early = datetime(2026, 9, 7, 23, 30, tzinfo=UTC)  # Tue 07:30 local
            assert (await r.present("1", at=early)).granted
            arrived, = r.of("student.arrived")
            assert not arrived.payload.late  # type: ignore[attr-defined]
            await r.command("student.release", {"person_id": "s1",
                                                "valid_from": "2026-09-08T01:00:00Z",
                                                "valid_until": "2026-09-08T02:00:00Z"}, by="t1")
            assert (await r.present("1", direction="out",
                                    at=datetime(2026, 9, 8, 1, 30, tzinfo=UTC))).granted
            assert len(r.of("student.departed")) == 1
            # back in the same day: no second arrival; the next day: late
            assert (await r.present("1", at=datetime(2026, 9, 8, 1, 45, tzinfo=UTC))).granted
            assert len(r.of("student.arrived")) == 1
            await r.present("1", direction="out", at=datetime(2026, 9, 8, 9, 30, tzinfo=UTC))
            assert (await r.present("1", at=datetime(2026, 9, 9, 0, 30, tzinfo=UTC))).granted
            second = r.of("student.arrived")[1]
            assert second.payload.late  # type: ignore[attr-defined]

    run(scenario())


def test_soft_anti_passback_lets_through_and_flags_and_forgive_clears_hard(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path) as r:
            await r.load([person("t1", "staff")], [card("7", "t1")])
            assert (await r.present("7")).granted
            second = await r.present("7", at=later(T0, minutes=1))
            assert second.granted
            assert r.of("access.granted")[-1].payload.passback  # type: ignore[attr-defined]
            assert (await r.present("7", gate="dorm")).granted
            assert (await r.present("7", gate="dorm", at=later(T0, minutes=2))).reason \
                == "anti_passback"
            assert (await r.command("access.forgive", {"person_id": "t1"}))["forgiven"]
            assert (await r.present("7", gate="dorm", at=later(T0, minutes=3))).granted

    run(scenario())


def test_device_decisions_are_recorded_as_the_device_made_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path) as r:
            await r.load([person("t1", "staff")], [card("7", "t1")])
            # the controller let an unknown card through: recorded as a grant, decided_by device
            decision = await r.present("555", device=True)
            assert decision.granted
            event = r.of("access.granted")[-1]
            assert event.payload.decided_by == "device"  # type: ignore[attr-defined]
            refused = await r.present("7", device=False)
            assert not refused.granted
            assert r.of("access.denied")[-1].payload.decided_by == "device"  # type: ignore[attr-defined]

    run(scenario())


def test_visitor_overstay_raises_an_alarm_that_returns_when_they_leave(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path) as r:
            await r.load([person("t1", "staff")], [card("7", "t1")])
            now = datetime.now(UTC)
            visit = await r.command("visitor.add", {
                "name": "Mr Zhao", "host": "t1", "purpose": "delivery",
                "valid_from": later(now, minutes=-60).isoformat(),
                "valid_until": later(now, minutes=20).isoformat(), "entries": 2})
            assert (await r.present(visit["pass_code"], at=later(now, minutes=-50))).granted
            roll = await r.command("access.on_campus", {})
            assert [p["name"] for p in roll] == ["Mr Zhao"]
            # 40 minutes on: the window has ended, the 10 minutes' grace too, he is still in
            now = later(now, minutes=40)
            r.control.tick(now)
            assert [e.type.name for e in r.of("visitor.overstayed")] == [
                "campus.visitor.overstayed"]
            (alarm,) = r.alarms.open_alarms()
            assert alarm.condition == "visitor_overstayed"
            # leaving is never refused for a window that has passed
            assert (await r.present(visit["pass_code"], direction="out", at=now)).granted
            assert not r.alarms.open_alarms()[0].active
            assert await r.command("access.on_campus", {}) == []
            on = await r.command("visitor.list", {"on_campus": True})
            assert on == []

    run(scenario())


def test_visitor_add_checks_its_arguments(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path) as r:
            with pytest.raises(CommandError, match="valid_until"):
                await r.command("visitor.add", {"name": "X", "host": "t1"})
            with pytest.raises(CommandError, match="no gate 'moon'"):
                await r.command("visitor.add", {"name": "X", "host": "t1", "gates": ["moon"],
                                                "valid_until": later(datetime.now(UTC),
                                                                     hours=1).isoformat()})
            with pytest.raises(CommandError, match="at most"):
                await r.command("visitor.add", {"name": "X", "host": "t1",
                                                "valid_until": "2099-01-01T00:00:00Z"})
            # a window already over (the guard typed yesterday's date): no pass is made
            now = datetime.now(UTC)
            with pytest.raises(CommandError, match="already past"):
                await r.command("visitor.add", {
                    "name": "X", "host": "t1", "valid_from": later(now, hours=-3).isoformat(),
                    "valid_until": later(now, hours=-1).isoformat()})
            assert r.of("visitor.registered") == [] and r.control.ledger.visits == {}

    run(scenario())


def test_presence_and_visits_survive_a_restart(tmp_path: Path) -> None:
    async def first() -> str:
        async with rig(tmp_path) as r:
            await r.load([person("t1", "staff")], [card("7", "t1")])
            assert (await r.present("7", gate="dorm")).granted
            visit = await r.command("visitor.add", {
                "name": "Ms Li", "host": "t1", "valid_until": later(
                    datetime.now(UTC), hours=2).isoformat()})
            return str(visit["pass_code"])

    code = run(first())

    async def second() -> None:
        async with rig(tmp_path) as r:
            assert (await r.present("7", gate="dorm", at=later(T0, minutes=1))).reason \
                == "anti_passback"
            assert (await r.present(code, at=datetime.now(UTC))).granted

    run(second())
