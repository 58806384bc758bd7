"""The supervisor's ISA-18.2 figures from a known sequence of alarms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.alarm_load import alarm_load, floods, percentile
from gateway.kernel.events import AlarmSnapshot, Severity

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def alarm(n: int, at: datetime, ack_after: float | None = None, by: str = "g1",
          closed: bool = True, drill: bool = False) -> AlarmSnapshot:
    return AlarmSnapshot(
        alarm_id=f"alm-{n}", key=f"d/p{n}/panic", device_id="d", point=f"p{n}",
        condition="panic", severity=Severity.CRITICAL, state="closed", active=False,
        acknowledged=ack_after is not None, latched=True, drill=drill, raised_at=at,
        activations=1,
        acknowledged_at=at + timedelta(seconds=ack_after) if ack_after is not None else None,
        acknowledged_by=by if ack_after is not None else None,
        closed_at=at + timedelta(minutes=5) if closed else None)


def test_a_flood_is_more_than_ten_alarms_in_ten_minutes() -> None:
    ten = [T0 + timedelta(seconds=50 * i) for i in range(10)]
    assert floods(ten) == []  # ten is not more than ten
    eleven = [*ten, T0 + timedelta(seconds=599)]
    (flood,) = floods(eleven)
    assert flood.alarms == 11 and flood.start == T0
    # another 11 alarms overlapping the first flood's window make one longer flood
    more = [T0 + timedelta(seconds=600 + 10 * i) for i in range(11)]
    (longer,) = floods(eleven + more)
    assert longer.alarms == 22 and longer.end == more[-1]
    # and one an hour later is a second flood
    later = [T0 + timedelta(hours=1, seconds=i) for i in range(12)]
    assert [f.alarms for f in floods(eleven + later)] == [11, 12]


def test_the_load_of_a_shift() -> None:
    held = [alarm(i, T0 + timedelta(minutes=i), ack_after=10 * (i + 1)) for i in range(4)]
    held.append(alarm(9, T0 + timedelta(minutes=70), ack_after=100, by="g2"))
    held.append(alarm(10, T0 + timedelta(minutes=71), drill=True, ack_after=1))  # left out
    held.append(alarm(11, T0 - timedelta(hours=30), closed=False))  # standing, raised before
    load = alarm_load(held, T0, T0 + timedelta(hours=2), now=T0 + timedelta(hours=2))
    assert load.alarms == 5 and load.per_hour == 2.5
    assert [n for _, n in load.hours] == [4, 1] and load.busiest_hour == 4
    assert [a.alarm_id for a in load.standing] == ["alm-11"]
    short = alarm_load(held, T0, T0 + timedelta(minutes=10), now=T0 + timedelta(hours=2))
    assert short.alarms == 4 and short.per_hour == 4.0  # not 24 an hour
    g1, g2 = load.responses
    assert (g1.operator, g1.acknowledged, g1.p50, g1.p95) == ("g1", 4, 20.0, 40.0)
    assert (g2.operator, g2.p50, g2.p95) == ("g2", 100.0, 100.0)
    assert load.floods == []


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 50) == 10.0 and percentile(values, 95) == 19.0
