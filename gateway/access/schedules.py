"""Whether a schedule allows a moment: weekday windows, terms and holidays, in the site's time."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from gateway.access.config import WEEKDAYS, Access


class Schedules:
    def __init__(self, access: Access, timezone: str) -> None:
        self._zone = ZoneInfo(timezone)
        self._holidays = frozenset(access.calendar.holidays)
        self._terms = [(t.start, t.end) for t in access.calendar.terms]
        self._windows = {
            s.id: (s.in_term, [(frozenset(WEEKDAYS.index(d) for d in w.days), *w.minutes())
                               for w in s.windows])
            for s in access.schedules}

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self._zone)

    def in_term(self, day: date) -> bool:
        if day in self._holidays:
            return False
        return not self._terms or any(start <= day <= end for start, end in self._terms)

    def allows(self, schedule: str, moment: datetime) -> bool:
        """True if ``schedule`` is open at ``moment``; an unknown schedule allows nothing."""
        entry = self._windows.get(schedule)
        if entry is None:
            return False
        in_term, windows = entry
        local = self.local(moment)
        if in_term and not self.in_term(local.date()):
            return False
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        return any(weekday in days and start <= minute < end for days, start, end in windows)
