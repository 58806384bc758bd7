"""Console sessions and the guard on the login form.

A session is a random id in an HttpOnly, SameSite=Strict cookie (Secure when the console speaks
TLS), with a CSRF token of its own that every state-changing request must send back in a
header. Sessions are kept (by the SHA-256 of their id) in the operators database, so a restarted
gateway does not log the guard room out; their last use is written there at most once a minute.

A duty session has two clocks, because the guard room must never be logged out under an open
board, yet whoever acts must be the guard the audit names:

- **the watch** (seeing the board, hearing the siren) ends after ``session_idle`` without a sign
  of life, at logout, or when the operator is disabled. A browser holding the live feed is a
  sign of life every second (``web.py`` asks ``get`` for it), so an open page is never logged
  out, busy or quiet;
- **the authority to act** lapses after ``session_idle`` without an action of the operator's own
  (the login, a re-authentication, a command), and at once when their password changes: the
  next command is refused with ``reauth`` and the page asks for the password in place
  (``renewed``), keeping what was typed, and sends the command again.

Every request compares the session's operator generation with the database's
(``ConsoleOperators.generation``): a disabled operator's sessions end, a changed password asks
for the new one before the next action.

Logins are limited per client address, and failed ones slow that client down (``LoginGuard``):
no one can lock a guard out by failing with their name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.console.operators import ConsoleOperators
from gateway.kernel.limits import KeyedBuckets

SAVE_EVERY = 60.0
K = TypeVar("K")

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
    generation: int = 0  # the operator's, when the session was opened
    acted: float = field(default_factory=time.time)  # login, re-authentication, last command
    renew: str = ""  # why the password is asked before the next action ("password"), if so


class Sessions:
    MAX = 1000

    def __init__(self, idle: float, store: ConsoleOperators,
                 clock: Callable[[], float] = time.time) -> None:
        self._idle = idle
        self._store = store
        self._clock = clock
        now = clock()
        self._sessions: dict[str, Session] = {}
        for digest, operator, role, language, csrf, seen in store.sessions(now - idle):
            generation = store.generation(operator)  # kept rows were not ended: still valid
            if generation is not None:
                self._sessions[digest] = Session(operator, role, language, csrf, seen, seen,
                                                 generation, acted=seen)

    def open(self, operator: str, role: str, language: str,
             generation: int = 0) -> tuple[str, Session]:
        self._expire()
        if len(self._sessions) >= self.MAX:  # the least recently used goes
            oldest = min(self._sessions, key=lambda k: self._sessions[k].last_seen)
            self._end(oldest)
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(operator, role, language, last_seen=now, saved=now,
                          generation=generation, acted=now)
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
        if now - session.last_seen > self._idle or not self._current(session):
            self._end(digest)
            return None
        session.last_seen = now
        if now - session.saved > SAVE_EVERY:
            session.saved = now
            try:
                if not self._store.touch_session(digest, session.language, now) \
                        and not session.renew:  # a new password removes the row: kept here
                    del self._sessions[digest]  # ended from the command line
                    return None
            except sqlite3.Error as exc:
                log.debug("session not refreshed on disk: %s", exc)
        return session

    def _current(self, session: Session) -> bool:
        """Whether the operator is still enabled; a changed password marks the session to be
        renewed (the board stays, the next action asks for the new password)."""
        try:
            generation = self._store.generation(session.operator)
        except sqlite3.Error as exc:  # unreadable for a moment: the guard room stays logged in
            log.debug("operator generation not read: %s", exc)
            return True
        if generation is None:
            log.info("session of %s ended: the operator was disabled or removed",
                     session.operator)
            return False
        if generation != session.generation and not session.renew:
            log.info("session of %s must be renewed: the operator's password changed",
                     session.operator)
            session.renew = "password"
        return True

    def renewal(self, session: Session) -> str:
        """Why the operator must give their password before acting ("" if they need not):
        ``password`` after a new one was set, ``idle`` after ``session_idle`` without an action
        of their own (open alarms and a busy feed keep the board, not the authority to act)."""
        if session.renew:
            return session.renew
        return "idle" if self._clock() - session.acted > self._idle else ""

    def acted(self, session: Session) -> None:
        session.acted = self._clock()

    def renewed(self, sid: str, session: Session, generation: int) -> None:
        """The operator gave their password again: the session acts with it from now on."""
        now = self._clock()
        session.generation, session.renew, session.acted = generation, "", now
        session.last_seen = session.saved = now
        try:  # a new password removed the stored row: the renewed session survives a restart
            self._store.new_session(_digest(sid), session.operator, session.role,
                                    session.language, session.csrf, now)
        except sqlite3.Error as exc:
            log.warning("renewed session of %s not stored (%s)", session.operator, exc)

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


def client_of(address: str) -> str:
    """Who is counted for an address: an IPv6 client by its /64 (one host may hold all of it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    until: float = 0.0  # no further try before this


class LoginGuard:
    """Slows password guessing down without letting anyone lock a guard out.

    Attempts are limited per client address (a token bucket). Failures are counted per client
    and name, and per client: once one name has failed ``attempts`` times in a row from one
    client, that client waits before each further try of it, 1 s, then 2, 4, ... up to
    ``longest``; a client failing across many names (``CLIENT_FACTOR`` times as often) waits
    likewise for every name. A name is never locked as such: the guard at another computer
    still logs in. Counts are forgotten once a client has been quiet for ``longest`` after its
    last wait.
    """

    PER_ADDRESS_BURST, PER_ADDRESS_PER_MINUTE = 10, 10
    CLIENT_FACTOR = 4
    MAX_KEYS = 10_000

    def __init__(self, attempts: int, longest: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._attempts = attempts
        self._longest = longest
        self._clock = clock
        self._pairs: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._clients: OrderedDict[str, _Failures] = OrderedDict()
        self._addresses = KeyedBuckets(self.PER_ADDRESS_BURST, self.PER_ADDRESS_PER_MINUTE / 60,
                                       max_keys=self.MAX_KEYS, clock=clock)

    def refusal(self, name: str, address: str) -> str:
        """Why a login attempt is refused before the password is even checked ("" if not)."""
        address = client_of(address)
        if not self._addresses.take(address):
            return (f"more than {self.PER_ADDRESS_PER_MINUTE} login attempts a minute from "
                    f"{address}")
        now = self._clock()
        pair, client = self._pairs.get((address, name)), self._clients.get(address)
        wait = max(pair.until - now if pair else 0.0, client.until - now if client else 0.0)
        if wait > 0:
            return (f"{address} waits {wait:.0f} s more after failed logins "
                    f"({pair.count if pair else 0} of this name, "
                    f"{client.count if client else 0} in all)")
        return ""

    def failed(self, name: str, address: str) -> float:
        """Count a failure; how long this client now waits before its next try of the name."""
        now = self._clock()
        address = client_of(address)
        pair = self._count(self._pairs, (address, name), self._attempts, now)
        client = self._count(self._clients, address, self._attempts * self.CLIENT_FACTOR, now)
        return max(pair.until, client.until, now) - now

    def succeeded(self, name: str, address: str) -> None:
        self._pairs.pop((client_of(address), name), None)

    def _count(self, table: OrderedDict[K, _Failures], key: K, threshold: int,
               now: float) -> _Failures:
        failures = table.pop(key, None) or _Failures()
        if now - max(failures.last, failures.until) > self._longest:
            failures = _Failures()  # quiet for the longest wait after the last: forgotten
        table[key] = failures  # the most recent last: the oldest are dropped first
        failures.count += 1
        failures.last = now
        if failures.count >= threshold:
            failures.until = now + min(self._longest, 2.0 ** (failures.count - threshold))
        while len(table) > self.MAX_KEYS:
            table.popitem(last=False)
        return failures
