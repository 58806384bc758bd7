"""Who is on campus, the visits and the releases: small state, in memory, written through the
outbox in the same transaction as the decision events that change it (so the ledger and the
event stream agree after any crash), and read back once at start.

Tables in the state database: ``presence`` (person -> areas inside, last gate and time, the day
of the first entry), ``visits`` (visits and their passes; a closed visit is deleted a day after
its window: its history is in the event stream) and ``releases`` (a student may leave
during school hours between two times, given by a teacher or guard).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.alarms import StateWriter
from gateway.outbox import StateWrite

SCHEMA = """
CREATE TABLE IF NOT EXISTS presence (person_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS visits (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS releases (person_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""
PASS_DIGITS = 12
KEEP_CLOSED = timedelta(days=1)


@dataclass(frozen=True)
class Whereabouts:
    category: str
    areas: frozenset[str] = frozenset()
    gate: str = ""
    at: datetime | None = None
    arrived_on: date | None = None  # local day of the first entry (students: arrived sent)

    @property
    def on_campus(self) -> bool:
        return bool(self.areas)

    def doc(self) -> dict[str, Any]:
        return {"category": self.category, "areas": sorted(self.areas), "gate": self.gate,
                "at": self.at.isoformat() if self.at else None,
                "arrived_on": self.arrived_on.isoformat() if self.arrived_on else None}

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Whereabouts:
        return cls(doc["category"], frozenset(doc["areas"]), doc["gate"],
                   datetime.fromisoformat(doc["at"]) if doc["at"] else None,
                   date.fromisoformat(doc["arrived_on"]) if doc["arrived_on"] else None)


class Visit(BaseModel):
    """A registered visit and its pass. Kept: what the pass and the roll call need, no more."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    visit_id: str
    pass_code: str
    person_id: str
    name: str
    host: str
    purpose: str
    valid_from: datetime
    valid_until: datetime
    gates: list[str]
    entries_allowed: int
    entries_used: int = 0
    on_campus: bool = False
    closed: bool = False
    closed_by: str = ""
    overstayed: bool = False
    registered_by: str = ""


class VisitRequest(BaseModel):
    """``visitor.add``: what a guard registers at the gate house; nothing more is kept."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="as the guard will call it")
    host: str = Field(min_length=1, max_length=64, description="person id of the host")
    purpose: str = Field(default="", max_length=200)
    valid_from: AwareDatetime | None = Field(default=None, description="default: now")
    valid_until: AwareDatetime
    gates: list[str] = Field(default=[], description="default: access.visitors.default_gates")
    entries: int = Field(default=1, ge=1, le=100, description="entries the pass allows")


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(min_length=1, max_length=64)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime
    note: str = Field(default="", max_length=200)


@dataclass(frozen=True)
class Release:
    person_id: str
    start: datetime
    until: datetime
    by: str
    note: str = ""


@dataclass
class Ledger:
    writer: StateWriter
    presence: dict[str, Whereabouts] = field(default_factory=dict)
    visits: dict[str, Visit] = field(default_factory=dict)
    releases: dict[str, Release] = field(default_factory=dict)
    _by_pass: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, writer: StateWriter) -> Ledger:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)
            ledger = cls(writer)
            for person, doc in db.execute("SELECT person_id, doc FROM presence"):
                ledger.presence[person] = Whereabouts.of(json.loads(doc))
            for (doc,) in db.execute("SELECT doc FROM visits"):
                visit = Visit.model_validate_json(doc)
                ledger.visits[visit.visit_id] = visit
                ledger._by_pass[visit.pass_code] = visit.visit_id
            for person, doc in db.execute("SELECT person_id, doc FROM releases"):
                r = json.loads(doc)
                ledger.releases[person] = Release(person, datetime.fromisoformat(r["start"]),
                                                  datetime.fromisoformat(r["until"]), r["by"],
                                                  r.get("note", ""))
            return ledger
        finally:
            db.close()

    # -- presence ------------------------------------------------------------------------

    def where(self, person_id: str) -> Whereabouts | None:
        return self.presence.get(person_id)

    def move(self, person_id: str, whereabouts: Whereabouts) -> None:
        self.presence[person_id] = whereabouts
        self.writer.write(StateWrite("INSERT OR REPLACE INTO presence VALUES (?, ?)",
                                     (person_id, json.dumps(whereabouts.doc()))))

    def forgive(self, person_id: str) -> bool:
        """Forget where a person is (anti-passback forgive): their next passage is allowed."""
        if person_id not in self.presence:
            return False
        current = self.presence[person_id]
        self.move(person_id, replace(current, areas=frozenset()))
        return True

    def on_campus(self) -> Iterator[tuple[str, Whereabouts]]:
        return ((p, w) for p, w in self.presence.items() if w.on_campus)

    # -- visits --------------------------------------------------------------------------

    def new_pass_code(self) -> str:
        while True:
            code = "".join(str(secrets.randbelow(10)) for _ in range(PASS_DIGITS))
            if code[0] != "0" and code not in self._by_pass:
                return code

    def visit_by_pass(self, code: str) -> Visit | None:
        visit_id = self._by_pass.get(code)
        return self.visits.get(visit_id) if visit_id else None

    def save_visit(self, visit: Visit) -> None:
        self.visits[visit.visit_id] = visit
        self._by_pass[visit.pass_code] = visit.visit_id
        self.writer.write(StateWrite("INSERT OR REPLACE INTO visits VALUES (?, ?)",
                                     (visit.visit_id, visit.model_dump_json())))

    def prune_visits(self, now: datetime) -> None:
        """Forget closed visits a day after their window (their passes then read as unknown)."""
        for visit in list(self.visits.values()):
            if visit.closed and not visit.on_campus and now > visit.valid_until + KEEP_CLOSED:
                del self.visits[visit.visit_id]
                del self._by_pass[visit.pass_code]
                self.writer.write(StateWrite("DELETE FROM visits WHERE id = ?",
                                             (visit.visit_id,)))

    # -- releases ------------------------------------------------------------------------

    def release(self, release: Release) -> None:
        self.releases[release.person_id] = release
        self.writer.write(StateWrite("INSERT OR REPLACE INTO releases VALUES (?, ?)", (
            release.person_id, json.dumps({"start": release.start.isoformat(),
                                           "until": release.until.isoformat(),
                                           "by": release.by, "note": release.note}))))

    def released(self, person_id: str, moment: datetime) -> bool:
        release = self.releases.get(person_id)
        return release is not None and release.start <= moment <= release.until

    def prune_releases(self, now: datetime) -> None:
        for person, release in list(self.releases.items()):
            if release.until < now:
                del self.releases[person]
                self.writer.write(StateWrite("DELETE FROM releases WHERE person_id = ?",
                                             (person,)))
