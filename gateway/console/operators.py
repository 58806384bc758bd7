"""The people who log in to the console, with argon2 password hashes, in the state dir.

``campus-gateway operator add/passwd/disable/list`` writes here while the daemon runs (SQLite
WAL); the console reads a record at every login, so a new password or a disabled operator takes
effect at once. A new password or a disable also raises the operator's ``generation``, which the
console compares with its session's at every request (one indexed read on a connection it
keeps open), so the operator's sessions end at their next request. Roles are those of commands
(``gateway.config.ROLES``): viewer < guard < supervisor.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.config import ROLES

MIN_PASSWORD = 10

_hasher = PasswordHasher()


class OperatorError(Exception):
    """An operator change that cannot be made; the message says why."""


@dataclass(frozen=True)
class ConsoleOperator:
    name: str
    role: str
    disabled: bool
    language: str | None
    generation: int = 0  # raised by every change that must end the operator's sessions


class ConsoleOperators:
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS operators (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0, language TEXT, changed REAL NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS sessions (
        sid_hash TEXT PRIMARY KEY, operator TEXT NOT NULL, role TEXT NOT NULL,
        language TEXT NOT NULL, csrf TEXT NOT NULL, last_seen REAL NOT NULL);
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False
        self._reader: sqlite3.Connection | None = None

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation (the CLI and the daemon both write here)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=5)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if not self._ready:
                db.executescript(self.SCHEMA)
                columns = {row[1] for row in db.execute("PRAGMA table_info(operators)")}
                if "generation" not in columns:  # a database from before generations
                    db.execute("ALTER TABLE operators ADD COLUMN generation INTEGER NOT NULL"
                               " DEFAULT 0")
                self._ready = True
            yield db
        finally:
            db.close()

    def add(self, name: str, role: str, password: str) -> None:
        self._check(role, password)
        try:
            with self._db() as db:
                db.execute("INSERT INTO operators (name, role, hash, changed)"
                           " VALUES (?, ?, ?, ?)", (name, role, _hasher.hash(password),
                                                     time.time()))
        except sqlite3.IntegrityError:
            raise OperatorError(f"operator {name!r} exists already (passwd changes the "
                                "password)") from None

    def set_password(self, name: str, password: str) -> None:
        self._check("viewer", password)
        self._update(name, "hash = ?", _hasher.hash(password), end_sessions=True)
        self.end_sessions(name)

    def generation(self, name: str) -> int | None:
        """The operator's generation, None if they are gone or disabled: checked at every
        console request, on a connection kept open (autocommit: it sees the CLI's writes)."""
        if self._reader is None:
            with self._db():  # the schema, once
                pass
            self._reader = sqlite3.connect(self.path, isolation_level=None,
                                           check_same_thread=False)
        row = self._reader.execute("SELECT generation, disabled FROM operators WHERE name = ?",
                                   (name,)).fetchone()
        return None if row is None or row[1] else int(row[0])

    # -- sessions (so that a restarted gateway does not log the guard room out) -------------

    def touch_session(self, sid_hash: str, language: str, last_seen: float) -> bool:
        """Refresh a session; False if it was ended meanwhile (by the CLI)."""
        with self._db() as db:
            changed = db.execute("UPDATE sessions SET last_seen = ?, language = ? WHERE"
                                 " sid_hash = ?", (last_seen, language, sid_hash)).rowcount
            return bool(changed)

    def new_session(self, sid_hash: str, operator: str, role: str, language: str, csrf: str,
                    last_seen: float) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                       (sid_hash, operator, role, language, csrf, last_seen))

    def sessions(self, newer_than: float) -> list[tuple[str, str, str, str, str, float]]:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE last_seen <= ?", (newer_than,))
            return list(db.execute("SELECT sid_hash, operator, role, language, csrf, last_seen"
                                   " FROM sessions"))

    def end_session(self, sid_hash: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE sid_hash = ?", (sid_hash,))

    def end_sessions(self, operator: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE operator = ?", (operator,))

    def set_disabled(self, name: str, disabled: bool) -> None:
        self._update(name, "disabled = ?", int(disabled), end_sessions=disabled)
        if disabled:
            self.end_sessions(name)

    def set_language(self, name: str, language: str) -> None:
        self._update(name, "language = ?", language)

    def list(self) -> list[ConsoleOperator]:
        with self._db() as db:
            return [ConsoleOperator(n, r, bool(d), lang) for n, r, d, lang in db.execute(
                "SELECT name, role, disabled, language FROM operators ORDER BY name")]

    def verify(self, name: str, password: str) -> ConsoleOperator | None:
        """The operator, if the password is right and the operator not disabled (slow: argon2;
        call it off the event loop)."""
        with self._db() as db:
            row = db.execute("SELECT role, hash, disabled, language, generation FROM operators"
                             " WHERE name = ?", (name,)).fetchone()
        if row is None:
            _hasher.hash(password)  # the same time as a wrong password: no name probing
            return None
        role, stored, disabled, language, generation = row
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if disabled:
            return None
        if _hasher.check_needs_rehash(stored):
            self._update(name, "hash = ?", _hasher.hash(password))
        return ConsoleOperator(name, role, False, language, generation)

    def _update(self, name: str, assignment: str, value: object,
                end_sessions: bool = False) -> None:
        bump = ", generation = generation + 1" if end_sessions else ""
        with self._db() as db:
            changed = db.execute(f"UPDATE operators SET {assignment}{bump}, changed = ?"
                                 " WHERE name = ?", (value, time.time(), name)).rowcount
        if not changed:
            raise OperatorError(f"no operator {name!r}")

    @staticmethod
    def _check(role: str, password: str) -> None:
        if role not in ROLES:
            raise OperatorError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise OperatorError(f"a password needs at least {MIN_PASSWORD} characters")
