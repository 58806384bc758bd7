"""Console sessions and the guard on the login form.

A session is a random id in an HttpOnly, SameSite=Strict cookie (Secure when the console speaks
TLS), with a CSRF token of its own that every state-changing request must send back in a
header. It ends after ``session_idle`` without a request, at logout, or when the operator is
disabled or their password changed. Sessions are kept (by the SHA-256 of their id) in the
operators database, so a restarted gateway does not log the guard room out; their last use is
written there at most once a minute, which is also when a session ended from the command line
is noticed.

Logins are limited per client address (a token bucket) and per operator name: after
``login_attempts`` failures in a row the name is locked for ``lockout``, whatever the password.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.console.operators import ConsoleOperators
from gateway.limits import KeyedBuckets

SAVE_EVERY = 60.0

log = logging.getLogger(__name__)


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass
class Session:
    operator: str
    role: str
    language: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.time)
    saved: float = field(default_factory=time.time)


class Sessions:
    MAX = 1000

    def __init__(self, idle: float, store: ConsoleOperators,
                 clock: Callable[[], float] = time.time) -> None:
        self._idle = idle
        self._store = store
        self._clock = clock
        now = clock()
        self._sessions: dict[str, Session] = {
            digest: Session(operator, role, language, csrf, seen, seen)
            for digest, operator, role, language, csrf, seen in store.sessions(now - idle)}

    def open(self, operator: str, role: str, language: str) -> tuple[str, Session]:
        self._expire()
        if len(self._sessions) >= self.MAX:  # the least recently used goes
            oldest = min(self._sessions, key=lambda k: self._sessions[k].last_seen)
            self._end(oldest)
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(operator, role, language, last_seen=now, saved=now)
        self._sessions[_digest(sid)] = session
        try:
            self._store.new_session(_digest(sid), operator, role, language, session.csrf, now)
        except sqlite3.Error as exc:  # a full disk: the session lives in memory only
            log.warning("session of %s not stored (%s); it ends with this run", operator, exc)
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        digest = _digest(sid)
        session = self._sessions.get(digest)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle:
            self._end(digest)
            return None
        session.last_seen = now
        if now - session.saved > SAVE_EVERY:
            session.saved = now
            try:
                if not self._store.touch_session(digest, session.language, now):
                    del self._sessions[digest]  # ended from the command line
                    return None
            except sqlite3.Error as exc:
                log.debug("session not refreshed on disk: %s", exc)
        return session

    def close(self, sid: str | None) -> None:
        if sid:
            self._end(_digest(sid))

    def _end(self, digest: str) -> None:
        self._sessions.pop(digest, None)
        try:
            self._store.end_session(digest)
        except sqlite3.Error as exc:
            log.warning("ended session not removed from disk: %s", exc)

    def _expire(self) -> None:
        now = self._clock()
        for digest in [d for d, s in self._sessions.items() if now - s.last_seen > self._idle]:
            self._end(digest)


class LoginGuard:
    PER_ADDRESS_BURST, PER_ADDRESS_PER_MINUTE = 10, 10

    def __init__(self, attempts: int, lockout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._attempts = attempts
        self._lockout = lockout
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._locked: dict[str, float] = {}
        self._addresses = KeyedBuckets(self.PER_ADDRESS_BURST, self.PER_ADDRESS_PER_MINUTE / 60,
                                       max_keys=10_000, clock=clock)

    def refusal(self, name: str, address: str) -> str:
        """Why a login attempt is refused before the password is even checked ("" if not)."""
        if not self._addresses.take(address):
            return "too_many_attempts"
        until = self._locked.get(name)
        if until is not None:
            if self._clock() < until:
                return "locked"
            del self._locked[name]
        return ""

    def failed(self, name: str) -> bool:
        """Count a failure; True if the name is now locked."""
        count = self._failures.get(name, 0) + 1
        if count >= self._attempts:
            self._failures.pop(name, None)
            self._locked[name] = self._clock() + self._lockout
            return True
        if len(self._failures) > 10_000:
            self._failures.clear()
        self._failures[name] = count
        return False

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)
