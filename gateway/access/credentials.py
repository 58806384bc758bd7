"""The credential store: persons and their cards, as the central platform (or a file) gives them.

One SQLite file in the state dir (``credentials.sqlite3``, mode 0600 like the rest of it). A
decision is one indexed read on the event loop (tens of microseconds, whether 10 or 100,000
credentials are held); changes are written on a thread, each set in one transaction, so a
decision sees the list before a change or after it, never half of it.

The list is versioned. A **snapshot** replaces everything; it may come in parts (a request is at
most 64 KiB; up to ``MAX_PARTS`` of them, some millions of cards). Each part's rows are written
to staging tables as it arrives (a part sent again replaces its rows), and once the last has
arrived they are checked and swapped in at once, in SQL: the gateway never holds the whole list
in memory.
**Changes** apply on top of the version they were made against, and only there. Both are
idempotent: the version already held is answered ``ok`` without writing. What is kept of a
person is what a decision needs: id, category, validity, gates, schedule; a name only if the
sender gives one (the console's roll call shows it). PINs are kept as salted PBKDF2 hashes;
a 4-digit PIN cannot be protected by hashing alone, so the file's 0600 mode is what guards it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.access.config import Category

STORE_FILE = "credentials.sqlite3"
PIN_ROUNDS = 2000
MAX_PARTS = 20_000  # 20,000 requests of 64 KiB: over 1 GB of list, 10 million short rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS persons (
    id TEXT PRIMARY KEY, category TEXT NOT NULL, name TEXT, schedule TEXT, gates TEXT,
    valid_from REAL, valid_until REAL);
CREATE TABLE IF NOT EXISTS credentials (
    code TEXT PRIMARY KEY, person_id TEXT NOT NULL, status TEXT NOT NULL,
    valid_from REAL, valid_until REAL, pin TEXT);
CREATE INDEX IF NOT EXISTS credentials_person ON credentials (person_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staged (
    version INTEGER NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (version, part));
CREATE TABLE IF NOT EXISTS staged_persons (
    part INTEGER NOT NULL, id TEXT NOT NULL, category TEXT NOT NULL, name TEXT, schedule TEXT,
    gates TEXT, valid_from REAL, valid_until REAL);
CREATE INDEX IF NOT EXISTS staged_persons_part ON staged_persons (part);
CREATE TABLE IF NOT EXISTS staged_credentials (
    part INTEGER NOT NULL, code TEXT NOT NULL, person_id TEXT NOT NULL, status TEXT NOT NULL,
    valid_from REAL, valid_until REAL, pin TEXT);
CREATE INDEX IF NOT EXISTS staged_credentials_part ON staged_credentials (part);
"""
# the rows staged belong to the one snapshot named in ``staged`` (its version and part count)


class SyncError(Exception):
    """A change that cannot be applied; the message says why (for the sender)."""


class PersonRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    category: Category
    name: str | None = Field(default=None, max_length=128)
    schedule: str | None = Field(default=None, max_length=64,
                                 description="a schedule of the site file; default: the "
                                             "category's")
    gates: list[str] = Field(default=[], description="gates allowed; empty: every gate")
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class CredentialRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z]+$",
                      description="card number as the reader decodes it (decimal), or a code")
    person_id: str = Field(min_length=1, max_length=64)
    status: Literal["active", "revoked", "lost"] = "active"
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    pin: str | None = Field(default=None, pattern=r"^[0-9]{4,8}$",
                            description="PIN for card + PIN gates; stored hashed")


class Snapshot(BaseModel):
    """The whole list, or part ``part`` of ``parts`` of it."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    part: int = Field(default=1, ge=1)
    parts: int = Field(default=1, ge=1, le=MAX_PARTS)
    persons: list[PersonRecord] = []
    credentials: list[CredentialRecord] = []


class Changes(BaseModel):
    """What changed from ``from_version`` to ``version``."""

    model_config = ConfigDict(extra="forbid")

    from_version: int = Field(ge=0)
    version: int = Field(ge=1)
    persons: list[PersonRecord] = Field(default=[], description="added or replaced")
    credentials: list[CredentialRecord] = Field(default=[], description="added or replaced")
    remove_persons: list[str] = Field(default=[], description="and their credentials")
    remove_credentials: list[str] = []


@dataclass(frozen=True)
class Holder:
    """A credential and the person it belongs to, as a decision needs them."""

    code: str
    person_id: str
    category: str
    status: str
    name: str | None
    schedule: str | None
    gates: frozenset[str]
    valid_from: datetime | None
    valid_until: datetime | None
    pin: str | None

    def pin_matches(self, pin: str) -> bool:
        if self.pin is None:
            return False
        salt, _, digest = self.pin.partition("$")
        return hmac.compare_digest(_pin_digest(pin, bytes.fromhex(salt)), digest)


@dataclass(frozen=True)
class Applied:
    version: int
    kind: str
    changed: int
    persons: int
    credentials: int
    complete: bool = True  # False: a part of a snapshot was kept, more are awaited
    already: bool = False  # the version was held already: nothing written


def _pin_digest(pin: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, PIN_ROUNDS).hex()


def _hash_pin(pin: str | None) -> str | None:
    if pin is None:
        return None
    salt = secrets.token_bytes(16)
    return f"{salt.hex()}${_pin_digest(pin, salt)}"


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _person_row(p: PersonRecord) -> tuple[Any, ...]:
    return (p.id, p.category, p.name, p.schedule, json.dumps(sorted(p.gates)),
            _ts(p.valid_from), _ts(p.valid_until))


def _credential_row(c: CredentialRecord) -> tuple[Any, ...]:
    return (c.code, c.person_id, c.status, _ts(c.valid_from), _ts(c.valid_until),
            _hash_pin(c.pin))


def _connect(path: Path) -> sqlite3.Connection:
    fresh = not path.exists()
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    if fresh:
        os.chmod(path, 0o600)
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


class CredentialStore:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STORE_FILE
        self._write = _connect(self.path)
        self._write.executescript(SCHEMA)
        # parts kept whole by an earlier release (their body in ``staged``): sent again, then
        self._write.execute("DELETE FROM staged WHERE body <> ''")
        self._read = _connect(self.path)
        self._lock = asyncio.Lock()
        self.version = self._version()

    def close(self) -> None:
        self._read.close()
        self._write.close()

    # -- reading (on the loop) -----------------------------------------------------------

    def holder(self, code: str) -> Holder | None:
        row = self._read.execute(
            "SELECT c.code, c.person_id, p.category, c.status, p.name, p.schedule, p.gates,"
            " max(coalesce(c.valid_from, -1e18), coalesce(p.valid_from, -1e18)),"
            " min(coalesce(c.valid_until, 1e18), coalesce(p.valid_until, 1e18)), c.pin"
            " FROM credentials c JOIN persons p ON p.id = c.person_id WHERE c.code = ?",
            (code,)).fetchone()
        if row is None:
            return None
        start = row[7] if row[7] > -1e17 else None
        end = row[8] if row[8] < 1e17 else None
        return Holder(row[0], row[1], row[2], row[3], row[4], row[5],
                      frozenset(json.loads(row[6] or "[]")), _dt(start), _dt(end), row[9])

    def person(self, person_id: str) -> tuple[str, str | None] | None:
        """(category, name) of a person, or None."""
        row = self._read.execute("SELECT category, name FROM persons WHERE id = ?",
                                 (person_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def counts(self) -> tuple[int, int]:
        persons = self._read.execute("SELECT count(*) FROM persons").fetchone()[0]
        credentials = self._read.execute("SELECT count(*) FROM credentials").fetchone()[0]
        return persons, credentials

    def _version(self) -> int:
        row = self._write.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    # -- writing (on a thread, one change at a time) -----------------------------------------

    async def snapshot(self, snapshot: Snapshot) -> Applied:
        async with self._lock:
            applied = await asyncio.to_thread(self._snapshot, snapshot)
            self.version = applied.version if applied.complete else self.version
            return applied

    async def changes(self, changes: Changes) -> Applied:
        async with self._lock:
            applied = await asyncio.to_thread(self._changes, changes)
            self.version = applied.version
            return applied

    def _applied(self, version: int, kind: str, changed: int, **extra: Any) -> Applied:
        persons = self._write.execute("SELECT count(*) FROM persons").fetchone()[0]
        credentials = self._write.execute("SELECT count(*) FROM credentials").fetchone()[0]
        return Applied(version, kind, changed, persons, credentials, **extra)

    def _snapshot(self, snapshot: Snapshot) -> Applied:
        current = self._version()
        if snapshot.version == current:
            return self._applied(current, "snapshot", 0, already=True)
        if snapshot.version < current:
            raise SyncError(f"snapshot version {snapshot.version} is older than the version "
                            f"held ({current})")
        if snapshot.part > snapshot.parts:
            raise SyncError(f"part {snapshot.part} of {snapshot.parts}?")
        db = self._write
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM staged WHERE version <> ? OR parts <> ? LIMIT 1",
                          (snapshot.version, snapshot.parts)).fetchone():
                self._unstage()  # another snapshot was under way: this one replaces it
            db.execute("DELETE FROM staged_persons WHERE part = ?", (snapshot.part,))
            db.execute("DELETE FROM staged_credentials WHERE part = ?", (snapshot.part,))
            db.executemany("INSERT INTO staged_persons VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           ((snapshot.part, *_person_row(p)) for p in snapshot.persons))
            db.executemany("INSERT INTO staged_credentials VALUES (?, ?, ?, ?, ?, ?, ?)",
                           ((snapshot.part, *_credential_row(c))
                            for c in snapshot.credentials))
            db.execute("INSERT OR REPLACE INTO staged (version, part, parts, body) VALUES"
                       " (?, ?, ?, '')", (snapshot.version, snapshot.part, snapshot.parts))
            have = db.execute("SELECT count(*) FROM staged").fetchone()[0]
            if have < snapshot.parts:
                db.execute("COMMIT")
                return self._applied(current, "snapshot", 0, complete=False)
            self._check_staged()
            db.execute("DELETE FROM persons")
            db.execute("DELETE FROM credentials")
            # in the order sent: a person given twice is the last one given, as with changes
            db.execute("INSERT OR REPLACE INTO persons SELECT id, category, name, schedule,"
                       " gates, valid_from, valid_until FROM staged_persons ORDER BY part, rowid")
            db.execute("INSERT INTO credentials SELECT code, person_id, status, valid_from,"
                       " valid_until, pin FROM staged_credentials ORDER BY part, rowid")
            changed = db.execute("SELECT count(*) FROM credentials").fetchone()[0]
            self._unstage()
            db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)",
                       (str(snapshot.version),))
            applied = self._applied(snapshot.version, "snapshot", changed)
            db.execute("COMMIT")
            return applied
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _unstage(self) -> None:
        for table in ("staged", "staged_persons", "staged_credentials"):
            self._write.execute(f"DELETE FROM {table}")

    def _check_staged(self) -> None:
        """The checks of ``_check`` on the staged rows, in SQL."""
        db = self._write
        orphans = [row[0] for row in db.execute(
            "SELECT DISTINCT person_id FROM staged_credentials WHERE person_id NOT IN"
            " (SELECT id FROM staged_persons) ORDER BY person_id LIMIT 6")]
        if orphans:
            count = db.execute(
                "SELECT count(DISTINCT person_id) FROM staged_credentials WHERE person_id NOT IN"
                " (SELECT id FROM staged_persons)").fetchone()[0]
            raise SyncError(f"{count} credential(s) name no person: "
                            f"{', '.join(orphans[:5])}{' ...' if count > 5 else ''}")
        twice = db.execute("SELECT code FROM staged_credentials GROUP BY code"
                           " HAVING count(*) > 1 LIMIT 1").fetchone()
        if twice:
            raise SyncError(f"a credential code appears twice: {twice[0]}")

    def _changes(self, changes: Changes) -> Applied:
        current = self._version()
        if changes.version == current:
            return self._applied(current, "changes", 0, already=True)
        if changes.from_version != current:
            raise SyncError(f"these changes go from version {changes.from_version}, but the "
                            f"version held is {current}: send the changes from {current}, or "
                            "a snapshot")
        if changes.version <= changes.from_version:
            raise SyncError("version must be greater than from_version")
        db = self._write
        db.execute("BEGIN IMMEDIATE")
        try:
            known = {p.id for p in changes.persons}
            missing = {c.person_id for c in changes.credentials} - known
            known |= {row[0] for row in db.execute(
                f"SELECT id FROM persons WHERE id IN ({','.join('?' * len(missing))})",
                tuple(missing))} if missing else set()
            self._check(changes.persons, changes.credentials, known - set(changes.remove_persons))
            db.executemany("DELETE FROM credentials WHERE person_id = ?",
                           ((p,) for p in changes.remove_persons))
            db.executemany("DELETE FROM persons WHERE id = ?",
                           ((p,) for p in changes.remove_persons))
            db.executemany("DELETE FROM credentials WHERE code = ?",
                           ((c,) for c in changes.remove_credentials))
            db.executemany("INSERT OR REPLACE INTO persons VALUES (?, ?, ?, ?, ?, ?, ?)",
                           map(_person_row, changes.persons))
            db.executemany("INSERT OR REPLACE INTO credentials VALUES (?, ?, ?, ?, ?, ?)",
                           map(_credential_row, changes.credentials))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)",
                       (str(changes.version),))
            changed = (len(changes.credentials) + len(changes.remove_credentials)
                       + len(changes.remove_persons))
            applied = self._applied(changes.version, "changes", changed)
            db.execute("COMMIT")
            return applied
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @staticmethod
    def _check(persons: Sequence[PersonRecord], credentials: Sequence[CredentialRecord],
               known: set[str]) -> None:
        orphans = sorted({c.person_id for c in credentials} - known)
        if orphans:
            raise SyncError(f"{len(orphans)} credential(s) name no person: "
                            f"{', '.join(orphans[:5])}{' ...' if len(orphans) > 5 else ''}")
        codes = [c.code for c in credentials]
        if len(set(codes)) != len(codes):
            raise SyncError("a credential code appears twice")


def read_import_file(path: Path) -> tuple[list[PersonRecord], list[CredentialRecord]]:
    """Persons and credentials of a CSV or JSON file (``gateway.access.imports``: encodings,
    the format, errors naming the file, the line and the field), all in memory: for files of
    a few thousand rows (the demo's); the command line streams a file instead."""
    from gateway.access.imports import CredentialFile  # it builds on this module's records

    persons: list[PersonRecord] = []
    credentials: list[CredentialRecord] = []
    with CredentialFile(path) as file:
        for part in file.snapshot_parts(1):
            persons += [PersonRecord.model_validate(p) for p in part["persons"]]
            credentials += [CredentialRecord.model_validate(c) for c in part["credentials"]]
    return persons, credentials


def snapshot_parts(version: int, persons: Iterable[PersonRecord],
                   credentials: Iterable[CredentialRecord],
                   per_part: int = 250) -> list[Snapshot]:
    """A whole list cut into snapshot parts that each fit in one request."""
    people = list(persons)
    cards = list(credentials)
    chunks = max(1, -(-(len(people) + len(cards)) // per_part))
    size_p = -(-len(people) // chunks) if people else 0
    size_c = -(-len(cards) // chunks) if cards else 0
    return [Snapshot(version=version, part=n + 1, parts=chunks,
                     persons=people[n * size_p:(n + 1) * size_p] if size_p else [],
                     credentials=cards[n * size_c:(n + 1) * size_c] if size_c else [])
            for n in range(chunks)]
