"""A shift's alarm load as ISA-18.2 measures it, for the supervisor.

ISA-18.2 (and EEMUA 191) judge an alarm system by what it asks of the person at the console:
alarms per hour (about 6 is manageable, over 12 is too many), floods (more than 10 alarms in
10 minutes), standing alarms (open for more than 24 hours: noise that hides the next one) and
how long an alarm waits for its acknowledge. Drill alarms are exercises: they are left out.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.kernel.events import AlarmSnapshot

FLOOD_ALARMS = 10  # more than this many ...
FLOOD_WINDOW = timedelta(minutes=10)  # ... within this long is a flood
STANDING_AFTER = timedelta(hours=24)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Flood:
    start: datetime
    end: datetime
    alarms: int


@dataclass(frozen=True)
class Response:
    """How long one operator's acknowledged alarms waited for the acknowledge (seconds)."""

    operator: str
    acknowledged: int
    p50: float
    p95: float


@dataclass(frozen=True)
class AlarmLoad:
    since: datetime
    until: datetime
    alarms: int
    per_hour: float
    hours: list[tuple[datetime, int]]  # each hour's start and the alarms raised in it
    floods: list[Flood]
    standing: list[AlarmSnapshot]
    responses: list[Response]

    @property
    def busiest_hour(self) -> int:
        return max((n for _, n in self.hours), default=0)


def alarm_load(held: Iterable[AlarmSnapshot], since: datetime, until: datetime,
               now: datetime) -> AlarmLoad:
    """The load of the alarms raised from ``since`` to ``until``; standing alarms as of now."""
    everything = [a for a in held if not a.drill]
    raised = sorted((a for a in everything if since <= a.raised_at < until),
                    key=lambda a: a.raised_at)
    times = [a.raised_at for a in raised]
    hours = []
    start = since
    while start < until:  # each hour's count by bisection: a year's window stays cheap
        hours.append((start, bisect_left(times, start + HOUR) - bisect_left(times, start)))
        start += HOUR
    # a rate over less than an hour would be an extrapolation (13 alarms in a minute is not
    # 780 an hour): the average is over the hours of the window, at least one
    span = max((until - since) / HOUR, 1.0)
    waits: dict[str, list[float]] = {}
    for alarm in raised:
        if alarm.acknowledged_at is not None:
            waits.setdefault(alarm.acknowledged_by or "—", []).append(
                (alarm.acknowledged_at - alarm.raised_at).total_seconds())
    return AlarmLoad(
        since=since, until=until, alarms=len(raised), per_hour=len(raised) / span, hours=hours,
        floods=floods(times),
        standing=sorted((a for a in everything
                         if a.closed_at is None and now - a.raised_at > STANDING_AFTER),
                        key=lambda a: a.raised_at),
        responses=[Response(name, len(w), percentile(w, 50), percentile(w, 95))
                   for name, w in sorted(waits.items())])


def floods(times: list[datetime]) -> list[Flood]:
    """Stretches where more than FLOOD_ALARMS alarms came within FLOOD_WINDOW (sorted times);
    overlapping windows are one flood."""
    found: list[Flood] = []
    ahead = 0
    opened = 0  # the index of the current flood's first alarm
    for i, first in enumerate(times):
        while ahead < len(times) and times[ahead] < first + FLOOD_WINDOW:
            ahead += 1
        if ahead - i <= FLOOD_ALARMS:
            continue
        last = times[ahead - 1]
        if found and first <= found[-1].end:
            found[-1] = Flood(found[-1].start, last, ahead - opened)
        else:
            opened = i
            found.append(Flood(first, last, ahead - i))
    return found


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (the value at least p % of them do not exceed)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
