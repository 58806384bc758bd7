"""The ``access:`` section of the site file: gates, areas, doors, schedules, the school calendar,
students, visitors and privacy. Readers and controllers (the device sections) name the gates and
doors declared here."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.kernel.fields import Identifier, Seconds, Strict

Category = Literal["staff", "student", "visitor", "contractor"]
CATEGORIES: tuple[Category, ...] = ("staff", "student", "visitor", "contractor")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class Window(Strict):
    """Days of the week and a time of day, e.g. ``{days: [mon, tue], time: "07:00-08:30"}``."""

    days: list[Weekday] = Field(
        default=list(WEEKDAYS[:5]), min_length=1)
    time: str = Field(default="00:00-24:00", description="HH:MM-HH:MM, local time")

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        match = _WINDOW.match(value)
        if not match:
            raise ValueError("expected HH:MM-HH:MM, e.g. 07:00-08:30")
        start = int(match.group(1)) * 60 + int(match.group(2))
        end = int(match.group(3)) * 60 + int(match.group(4))
        if end <= start or end > 24 * 60:
            raise ValueError(f"{value}: the end must be after the start, at most 24:00")
        return value

    def minutes(self) -> tuple[int, int]:
        start, end = self.time.split("-")
        sh, sm = start.split(":")
        eh, em = end.split(":")
        return int(sh) * 60 + int(sm), int(eh) * 60 + int(em)


class Schedule(Strict):
    """When a schedule allows passage. ``in_term``: only on term days that are not holidays."""

    id: Identifier
    windows: list[Window] = Field(min_length=1)
    in_term: bool = Field(default=False, description="only during terms, never on holidays")


class Term(Strict):
    start: date
    end: date

    @model_validator(mode="after")
    def _order(self) -> Term:
        if self.end < self.start:
            raise ValueError(f"term ends ({self.end}) before it starts ({self.start})")
        return self


class Calendar(Strict):
    """The school calendar: terms and holidays (holidays win over terms and schedules)."""

    terms: list[Term] = []
    holidays: list[date] = []


class Area(Strict):
    id: Identifier
    anti_passback: Literal["off", "soft", "hard"] = Field(
        default="off", description="soft: a second entry is let through and flagged; hard: "
                                   "denied until the person leaves (or is forgiven)")


class Gate(Strict):
    id: Identifier
    name: str = ""
    area: Identifier = Field(default="campus", description="the area the gate leads into")
    egress: bool = Field(default=False, description="an exit route: released on fire alarm")
    free_passage: list[Identifier] = Field(
        default=[], description="schedules during which the gate stands open (arrival, "
                                "dismissal)")
    pin: bool = Field(default=False, description="card + PIN required here")
    perimeter: bool = Field(default=True, description="leaving through it leaves the campus "
                                                      "(student departures, visitor exits)")


class Door(Strict):
    """A door with a contact (and a request-to-exit button), wired to a reader or I/O module."""

    id: Identifier
    gate: Identifier
    held_open_after: Seconds = Field(default=30.0, gt=0, le=3600)
    grant_window: Seconds = Field(default=10.0, gt=0, le=600,
                                  description="how long after a grant or exit request an "
                                              "opening is expected, not forced")


class Students(Strict):
    school_hours: Identifier | None = Field(
        default=None, description="schedule during which a student needs a release to leave")
    late_after: str | None = Field(default=None, description="HH:MM: an arrival after it is "
                                                             "late")

    @field_validator("late_after")
    @classmethod
    def _late(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", value):
            raise ValueError("expected HH:MM")
        return value

    def late(self) -> time | None:
        if self.late_after is None:
            return None
        hours, minutes = self.late_after.split(":")
        return time(int(hours), int(minutes))


class Visitors(Strict):
    overstay_grace: Seconds = Field(default=15 * 60.0, le=86400,
                                    description="on campus this long after the visit's end: "
                                                "visitor_overstayed alarm")
    max_visit: Seconds = Field(default=86400.0, gt=0, le=31 * 86400)
    default_gates: list[Identifier] = []


class Privacy(Strict):
    """Minors' data is sensitive (PIPL): events carry ids unless the site opts in."""

    names_in_events: bool = False
    full_credentials_in_events: bool = Field(
        default=False, description="false: card numbers are masked to their last 4 digits")


class Access(Strict):
    gates: list[Gate] = []
    areas: list[Area] = []
    doors: list[Door] = []
    schedules: list[Schedule] = []
    calendar: Calendar = Calendar()
    category_schedules: dict[Category, Identifier] = Field(
        default={}, description="schedule a category follows unless the person has their own")
    students: Students = Students()
    visitors: Visitors = Visitors()
    privacy: Privacy = Privacy()

    @model_validator(mode="after")
    def _references(self) -> Access:
        problems: list[str] = []
        for kind, ids in (("gates", [g.id for g in self.gates]),
                          ("areas", [a.id for a in self.areas]),
                          ("doors", [d.id for d in self.doors]),
                          ("schedules", [s.id for s in self.schedules])):
            for twice in sorted({i for i in ids if ids.count(i) > 1}):
                problems.append(f"access.{kind}: duplicate id {twice!r}")
        schedules = {s.id for s in self.schedules}
        gates = {g.id for g in self.gates}
        for n, gate in enumerate(self.gates):
            for name in gate.free_passage:
                if name not in schedules:
                    problems.append(f"access.gates[{n}].free_passage: no schedule {name!r}")
        for n, door in enumerate(self.doors):
            if door.gate not in gates:
                problems.append(f"access.doors[{n}].gate: no gate {door.gate!r}")
        for category, name in self.category_schedules.items():
            if name not in schedules:
                problems.append(f"access.category_schedules.{category}: no schedule {name!r}")
        if self.students.school_hours and self.students.school_hours not in schedules:
            problems.append(f"access.students.school_hours: no schedule "
                            f"{self.students.school_hours!r}")
        for name in self.visitors.default_gates:
            if name not in gates:
                problems.append(f"access.visitors.default_gates: no gate {name!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def gate(self, gate_id: str) -> Gate:
        for gate in self.gates:
            if gate.id == gate_id:
                return gate
        raise KeyError(gate_id)

    def area(self, area_id: str) -> Area:
        for area in self.areas:
            if area.id == area_id:
                return area
        return Area(id=area_id)
