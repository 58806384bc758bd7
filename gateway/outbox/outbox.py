"""The outbox thread: commits, hand-over, the spill while the disk is full, and the caps.

See the package's docstring for what the outbox promises; ``store`` for the rows, ``lanes`` for
their order, ``aside`` for what cannot be published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from gateway.config import Outbox as OutboxLimits
from gateway.outbox.aside import (
    ASIDE_HEAD,
    REFUSALS_BEFORE_ASIDE,
    aside_writes,
    rows_or_aside,
    writes_that_apply,
)
from gateway.outbox.lanes import Lanes
from gateway.outbox.store import (
    COLUMNS,
    ROW,
    ROW_MARKS,
    SCHEMA,
    OutboxStats,
    Outgoing,
    StateWrite,
    Work,
)

log = logging.getLogger(__name__)

SPILL_LIMIT = 50_000  # messages kept in memory while the disk is full; the oldest ordinary go
WINDOW = 1000  # rows handed to the transport and not yet acknowledged
BATCH = 2000  # rows committed or handed in one go
HOUSEKEEPING_EVERY = 1.0
REJECTED_RETRY = 30.0



class Transport(Protocol):
    """The MQTT side, as the outbox sees it. ``publish`` returns the message id, or None."""

    @property
    def connected(self) -> bool: ...

    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, content_type: str,
        expiry: int | None,
    ) -> int | None: ...


class Outbox:
    def __init__(
        self,
        path: Path,
        limits: OutboxLimits,
        on_dropped: Callable[[dict[str, Any]], None] = lambda summary: None,
        window: int = WINDOW,
        on_storage: Callable[[bool, str], None] = lambda ok, reason: None,
        on_delivered: Callable[[float], None] | None = None,
        on_set_aside: Callable[[dict[str, Any]], None] = lambda summary: None,
    ) -> None:
        self.path = path
        self._on_set_aside = on_set_aside
        self._refusals: Counter[int] = Counter()  # row id -> times the broker refused it
        self._limits = limits
        self._on_dropped = on_dropped
        self._on_storage = on_storage
        self._on_delivered = on_delivered
        self._window = window
        self._incoming: deque[list[Work]] = deque()  # each list is committed in one transaction
        self._gathering: list[Work] = []
        self._depth = 0
        self._puts = 0  # groups handed to the thread (event loop side)
        self._committed = 0  # groups committed (outbox thread side)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._durable: list[tuple[int, asyncio.Future[None]]] = []
        self._acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._accepted_cond = threading.Condition()
        self._stop = threading.Event()
        self._transport: Transport | None = None
        self._in_flight: dict[int, int] = {}  # mid -> row id
        self._lanes = Lanes()  # which rows go next: life-safety first, devices in turn
        self._next_id = 1
        self._db_now: sqlite3.Connection  # the file database, or the spill while it is full
        self._file_db: sqlite3.Connection | None = None
        self._spilled: sqlite3.Connection | None = None
        self._on_disk: set[int] = set()  # rows copied into the spill that are on the disk too
        self._waiting_writes: list[StateWrite] = []  # state changes waiting for the disk
        self._waiting_deletes: list[int] = []  # delivered rows to delete from the disk
        self._storage = ""  # why the disk is not used, while it is not
        self._retry: dict[int, float] = {}  # row id -> when to offer a refused row again
        self._stats = OutboxStats()
        self._replaying = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.heartbeat = time.monotonic()  # when the thread last came round its loop

    # -- called from other threads -------------------------------------------------------

    def start(self) -> None:
        """Start the outbox thread; again after it ended by failing (``ended``), when it goes
        on from the database: what is in flight stays in flight, the rest is handed afresh.
        A database that cannot be opened raises here."""
        if self._thread is not None and self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # started outside an event loop: no durable()
            self._loop = asyncio.get_running_loop()
        again = self._thread is not None
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(again,), name="outbox",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def ended(self) -> BaseException | None:
        """Why the outbox thread ended by itself (None while it runs, or once it was stopped);
        its own exception, or a RuntimeError if it ended without one (it was killed)."""
        thread = self._thread
        if thread is None or thread.is_alive() or self._stop.is_set():
            return None
        return self._error or RuntimeError("the outbox thread ended without an exception")

    def put(self, message: Outgoing) -> None:
        """Queue a message; it is accepted (durable) at the next commit, within milliseconds."""
        self._add(message)

    def write(self, change: StateWrite) -> None:
        """Queue a change to the gateway's state, committed like a message."""
        self._add(change)

    @contextlib.contextmanager
    def unit(self) -> Iterator[None]:
        """Everything put or written inside (nested units included) commits in one transaction.

        Called on one thread only (the event loop's), like ``put`` and ``write``.
        """
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._gathering:
                group, self._gathering = self._gathering, []
                self._hand_in(group)

    async def durable(self) -> None:
        """Return once everything put or written so far is committed to disk."""
        target = self._puts
        if self._committed >= target:
            return
        assert self._loop is not None, "durable() needs an outbox started in the event loop"
        future: asyncio.Future[None] = self._loop.create_future()
        self._durable.append((target, future))
        await future

    def _add(self, work: Work) -> None:
        if self._depth:
            self._gathering.append(work)
        else:
            self._hand_in([work])

    def _hand_in(self, group: list[Work]) -> None:
        self._puts += 1
        self._incoming.append(group)
        self._wake.set()

    def _release_durable(self) -> None:
        """On the event loop: wake every ``durable()`` whose messages are now committed."""
        done = self._committed
        waiting = []
        for target, future in self._durable:
            if target <= done:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((target, future))
        self._durable = waiting

    def attach(self, transport: Transport) -> None:
        self._transport = transport
        self._wake.set()

    def connection_changed(self) -> None:
        """The transport connected or disconnected: re-check what can be handed over."""
        self._replaying = True
        self._wake.set()

    def acked(self, mid: int, ok: bool) -> None:
        """PUBACK for ``mid`` (from the MQTT thread). ``ok`` False: the broker refused it."""
        self._acks.put((mid, ok))
        self._wake.set()

    def stats(self) -> OutboxStats:
        return OutboxStats(**{**vars(self._stats), "storage": self._storage})

    def wait_accepted(self, count: int, timeout: float) -> bool:
        """Block until ``count`` messages in total have been committed (used by benchmarks)."""
        with self._accepted_cond:
            return self._accepted_cond.wait_for(lambda: self._stats.accepted >= count, timeout)

    def close(self, drain: float = 0.0) -> None:
        """Stop; with ``drain`` > 0, first wait that long for the backlog to be delivered."""
        deadline = time.monotonic() + drain
        while drain and time.monotonic() < deadline:
            s = self._stats
            if not self._incoming and s.backlog == 0:
                break
            if self._transport is None or not self._transport.connected:
                break
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- the outbox thread ---------------------------------------------------------------

    def _run(self, again: bool = False) -> None:
        try:
            db = self._open()
            if again:
                self._resume(db)
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._db_now = db
        next_housekeeping = 0.0
        try:
            while True:
                self.heartbeat = time.monotonic()  # watched: a thread that hangs shows
                self._wake.wait(timeout=0.2)
                self._wake.clear()
                while True:  # a life-safety row is handed over right after its own commit
                    self.heartbeat = time.monotonic()
                    self._commit_batch(self._db_now)
                    if time.monotonic() >= next_housekeeping:
                        next_housekeeping = time.monotonic() + HOUSEKEEPING_EVERY
                        if self._spilled is not None:
                            self._recover()
                        self._tidy(self._db_now)
                    self._hand_over(self._db_now)
                    if not self._incoming:
                        break
                if self._stop.is_set() and not self._incoming:
                    break
        except Exception as exc:  # kept for ended(): the gateway restarts the thread, or stops
            log.exception("outbox thread failed; messages stay in %s", self.path)
            self._error = exc
        finally:
            self._db_now.close()
            if self._file_db is not None:
                self._file_db.close()

    def _resume(self, db: sqlite3.Connection) -> None:
        """The thread starts again after a failure: the lanes are rebuilt from the database,
        leaving out the rows in flight (their PUBACKs still delete them). Rows kept in memory
        while the disk was full went with the thread that held them."""
        if self._spilled is not None:
            log.error("the outbox thread held events in memory while the disk was full; "
                      "they are lost with it")
            self._spilled, self._file_db = None, None
            self._waiting_writes, self._waiting_deletes = [], []
            self._storage = ""
            self._on_storage(True, "")  # the next commit says so again if the disk is still full
        self._lanes.rebuild(db, set(self._in_flight.values()))
        self._replaying = True

    def _tidy(self, db: sqlite3.Connection) -> None:
        try:
            self._housekeeping(db, SPILL_LIMIT if self._spilled is not None else None)
        except sqlite3.OperationalError as exc:  # a delete needs room on the disk too
            log.debug("outbox housekeeping skipped: %s", exc)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._limits.synchronous.upper()}")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        self._stats.last_sequence = row[0] if row else 0
        used = db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
        seq_row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        self._next_id = max(used, seq_row[0] if seq_row else 0) + 1
        self._lanes.rebuild(db, set())
        self._refresh_counts(db)
        if self._stats.backlog:
            log.info("outbox %s holds %d undelivered messages", self.path, self._stats.backlog)
            self._replaying = True
        return db

    def _refresh_counts(self, db: sqlite3.Connection) -> None:
        total, urgent = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(priority), 0) FROM outbox"
        ).fetchone()
        self._stats.backlog, self._stats.life_safety_backlog = total, urgent

    def _commit_batch(self, db: sqlite3.Connection) -> None:
        """One transaction: up to BATCH new rows (whole units), their state writes, and the
        deletes of the rows the broker acknowledged meanwhile: one fsync for all of it.

        If the disk refuses it (full, or failing), the same rows go to the spill database in
        memory instead, flagged ``"durable": false``; see ``_spill``.
        """
        items: list[tuple[Outgoing, int, int | None]] = []
        writes: list[StateWrite] = []
        groups = 0
        seq = self._stats.last_sequence
        row_id = self._next_id
        now = time.time()
        while self._incoming and len(items) < BATCH:
            groups += 1
            for work in self._incoming.popleft():
                if isinstance(work, StateWrite):
                    writes.append(work)
                    continue
                row_seq = None
                if work.sequenced and work.body is not None:
                    seq += 1
                    row_seq = seq
                items.append((work, row_id, row_seq))
                row_id += 1
        done, refused = self._take_acks()
        if not groups and not done and not refused:
            return
        rows, aside = rows_or_aside(items, now, durable=self._spilled is None)
        writes += aside_writes(aside)
        try:
            try:
                delivered_urgent = self._write(db, rows, writes, done, seq)
            except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
                writes = writes_that_apply(db, writes)
                delivered_urgent = self._write(db, rows, writes, done, seq)
        except sqlite3.OperationalError as exc:
            db = self._spill(exc)
            rows, _ = rows_or_aside(items, now, durable=False)
            delivered_urgent = self._write(db, rows, writes, done, seq)
        for entry in aside:
            self._told_aside(entry)
        self._next_id = row_id
        for row in rows:
            if row[2]:
                self._lanes.queue(row[0], row[3])
        urgent = sum(r[2] for r in rows)
        with self._accepted_cond:
            self._stats.last_sequence = seq
            self._stats.accepted += len(rows)
            self._stats.backlog += len(rows) - len(done)
            self._stats.life_safety_backlog += urgent - delivered_urgent
            self._accepted_cond.notify_all()
        self._acknowledged(done, refused)
        for row_id in refused:
            self._refusals[row_id] += 1
            if self._refusals[row_id] >= REFUSALS_BEFORE_ASIDE:
                self._set_aside(db, row_id, f"the broker refused it {REFUSALS_BEFORE_ASIDE} "
                                "times")
        if groups:
            self._committed += groups
            if self._loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    self._loop.call_soon_threadsafe(self._release_durable)

    def _write(self, db: sqlite3.Connection, rows: list[tuple[Any, ...]],
               writes: list[StateWrite], done: list[int], seq: int) -> int:
        """The transaction itself; how many of the deleted rows were life-safety."""
        spilled = self._spilled is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                db.executemany(f"INSERT INTO outbox ({ROW}) VALUES ({ROW_MARKS})", rows)
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seq', ?)", (seq,))
            if spilled:  # the state tables are on disk only: their changes wait for it
                self._waiting_writes.extend(writes)
            else:
                for change in writes:
                    db.execute(change.sql, change.params)
            delivered_urgent = self._delete(db, done)
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        return delivered_urgent

    # -- a disk that is full ---------------------------------------------------------------

    def _spill(self, exc: sqlite3.OperationalError) -> sqlite3.Connection:
        """The disk refused a commit: go on in a database in memory (bounded), publish what
        comes without the durability promise, and tell the gateway (``on_storage``)."""
        if self._spilled is not None:
            raise exc  # the memory database itself failed: nothing sensible is left
        log.error("the state database %s cannot be written (%s): events go on to the broker "
                  "without being stored, flagged durable: false, until the disk has room",
                  self.path, exc)
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        memory.executescript(SCHEMA)
        # What waits on the disk goes on from memory, in its place in the lanes: a full disk
        # still reads, and a device's older messages must not wait for the disk while its
        # newer ones go out (the lanes hold row ids; the same ids are used here).
        waiting = self._db_now.execute(
            f"SELECT {ROW} FROM outbox ORDER BY id LIMIT ?", (SPILL_LIMIT,)).fetchall()
        memory.executemany(f"INSERT INTO outbox ({ROW}) VALUES ({ROW_MARKS})", waiting)
        self._on_disk = {row[0] for row in waiting}
        self._file_db, self._spilled = self._db_now, memory
        self._db_now = memory
        self._storage = f"the disk refused a write: {exc}"
        self._on_storage(False, self._storage)
        return memory

    def _recover(self) -> None:
        """Move what waits in memory onto the disk, if it has room again, and go back to it."""
        memory, disk = self._spilled, self._file_db
        assert memory is not None and disk is not None
        rows = memory.execute(f"SELECT {ROW} FROM outbox ORDER BY id").fetchall()
        rows = [row for row in rows if row[0] not in self._on_disk]  # there already
        try:
            self._write(disk, [], [], [], self._stats.last_sequence)  # a cheap probe first
            self._spilled = None
            self._write(disk, rows, self._waiting_writes, self._waiting_deletes,
                        self._stats.last_sequence)
        except sqlite3.OperationalError:
            self._spilled = memory
            return
        memory.close()
        self._on_disk = set()
        self._db_now, self._file_db = disk, None
        self._waiting_writes, self._waiting_deletes = [], []
        # hand-over starts afresh from the disk (in flight rows are not handed twice)
        self._lanes.rebuild(disk, set(self._in_flight.values()))
        self._refresh_counts(disk)
        self._storage = ""
        log.warning("the state database %s can be written again: %d events kept in memory "
                    "meanwhile are stored", self.path, len(rows))
        self._on_storage(True, "")

    def _take_acks(self) -> tuple[list[int], list[int]]:
        """Row ids the broker acknowledged, and row ids it refused, since the last call."""
        done: list[int] = []
        refused: list[int] = []
        while True:
            try:
                mid, ok = self._acks.get_nowait()
            except queue.Empty:
                break
            row_id = self._in_flight.pop(mid, None)
            if row_id is not None:
                (done if ok else refused).append(row_id)
        return done, refused

    def _delete(self, db: sqlite3.Connection, done: list[int]) -> int:
        """Delete delivered rows (inside the caller's transaction); how many were life-safety.

        While the disk is full, delivered rows that are on the disk are deleted there later.
        """
        urgent = 0
        for start in range(0, len(done), 500):
            chunk = done[start:start + 500]
            marks = ",".join("?" * len(chunk))
            now = time.time()
            for created, priority in db.execute(
                    f"SELECT created, priority FROM outbox WHERE id IN ({marks})", chunk):
                urgent += priority
                if self._on_delivered is not None:
                    self._on_delivered(now - created)
            if self._spilled is not None and db is self._spilled:
                here = {r[0] for r in db.execute(
                    f"SELECT id FROM outbox WHERE id IN ({marks})", chunk)}
                self._waiting_deletes.extend(i for i in chunk
                                             if i not in here or i in self._on_disk)
            db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)
        return int(urgent)

    def _acknowledged(self, done: list[int], refused: list[int]) -> None:
        # A refused row stays; it is offered again after REJECTED_RETRY.
        self._retry.update({r: time.monotonic() + REJECTED_RETRY for r in refused})
        self._stats.delivered += len(done)
        self._stats.rejected += len(refused)
        self._stats.in_flight = len(self._in_flight)
        if refused:
            log.warning("broker refused %d messages; retrying in %.0f s", len(refused),
                        REJECTED_RETRY)

    def _hand_over(self, db: sqlite3.Connection) -> None:
        transport = self._transport
        if transport is None or not transport.connected:
            return
        room = self._window - len(self._in_flight)
        if room <= 0:
            return
        if self._replaying:
            # Pace a backlog so the broker, the network and this box stay responsive.
            room = min(room, max(1, int(self._limits.replay_rate * 0.05)))
        batch = self._due_retries(db, room)
        if len(batch) < room:
            batch += self._lanes.next_rows(db, room - len(batch))
        limit = self._limits.max_message
        for handed, (row_id, topic, payload, qos, retain, content_type, expiry) in enumerate(batch):
            if len(payload) > limit:
                self._set_aside(db, row_id, f"{len(payload)} bytes; outbox.max_message is "
                                f"{limit}")
                continue
            try:
                mid = transport.publish(topic, payload, qos=qos, retain=bool(retain),
                                        content_type=content_type, expiry=expiry)
            except (ValueError, TypeError) as exc:  # the client refuses it: too large, bad topic
                self._set_aside(db, row_id, f"the MQTT client refused it: {exc}")
                continue
            if mid is None:  # the link dropped meanwhile: what was not handed stays for later
                self._rewind(batch[handed:])
                break
            if qos == 0:
                self._acks.put((mid, True))
            self._in_flight[mid] = row_id
        self._stats.in_flight = len(self._in_flight)
        if self._replaying:
            if len(batch) < room and not self._incoming:
                self._replaying = False
            else:
                # the time these rows take at replay_rate: 50 ms for a full pace's worth, a
                # fraction of it for a narrow window (mqtt.in_flight 1 hands one row a round
                # trip, which a whole 50 ms each would slow to 20 events a second)
                time.sleep(max(1, len(batch)) / self._limits.replay_rate)
                self._wake.set()

    def _rewind(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows taken but not handed over: offer them again at once."""
        self._retry.update({row[0]: 0.0 for row in rows})

    def _due_retries(self, db: sqlite3.Connection, room: int) -> list[tuple[Any, ...]]:
        now = time.monotonic()
        due = sorted(i for i, at in self._retry.items() if at <= now)[:room]
        if not due:
            return []
        for row_id in due:
            del self._retry[row_id]
        marks = ",".join("?" * len(due))
        return db.execute(f"SELECT {COLUMNS} FROM outbox WHERE id IN ({marks})"
                          " ORDER BY id", due).fetchall()

    # -- rows that cannot be published ------------------------------------------------------

    def _set_aside(self, db: sqlite3.Connection, row_id: int, reason: str) -> None:
        """Move a row that cannot be published out of its lane, so the lane goes on; what it
        was stays in ``outbox_aside`` (its first bytes), and the gateway says so."""
        found = db.execute(
            "SELECT device, kind, seq, topic, length(payload), substr(payload, 1, ?), priority"
            " FROM outbox WHERE id = ?", (ASIDE_HEAD, row_id)).fetchone()
        self._refusals.pop(row_id, None)
        self._retry.pop(row_id, None)
        if found is None:
            return
        device, kind, seq, topic, size, head, priority = found
        entry = {"row": row_id, "device": device, "kind": kind, "sequence": seq,
                 "topic": topic, "size": size, "reason": reason, "head": bytes(head),
                 "life_safety": bool(priority)}
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            for write in aside_writes([entry]):
                db.execute(write.sql, write.params)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            log.error("outbox row %d cannot be published (%s) nor set aside (%s); it is "
                      "skipped until the next start", row_id, reason, exc)
        self._stats.backlog -= 1
        self._stats.life_safety_backlog -= int(bool(priority))
        self._lanes.forget(row_id)
        self._told_aside(entry)

    def _told_aside(self, entry: dict[str, Any]) -> None:
        self._stats.set_aside += 1
        log.error("outbox: a %s message for %s (seqno %s, %d bytes) cannot be published: %s;"
                  " set aside in outbox_aside, the lane goes on", entry["kind"], entry["device"],
                  entry["sequence"], entry["size"], entry["reason"])
        self._on_set_aside({k: entry[k] for k in ("device", "kind", "sequence", "topic",
                                                  "size", "reason", "life_safety")})

    def _housekeeping(self, db: sqlite3.Connection, max_events: int | None = None) -> None:
        db.execute("BEGIN IMMEDIATE")
        in_flight = json.dumps(sorted(self._in_flight.values()))
        victims = db.execute(
            "SELECT id, seq, kind FROM outbox WHERE priority = 0 AND created < ? AND id NOT IN"
            " (SELECT value FROM json_each(?)) ORDER BY id",
            (time.time() - self._limits.max_age, in_flight),
        ).fetchall()
        reason = f"older than {self._limits.max_age:.0f} s"
        cap = max_events or self._limits.max_events
        backlog = (db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] if max_events
                   else self._stats.backlog) - len(victims)
        if backlog > cap:
            reason = (f"outbox over {cap} messages" if not max_events else
                      f"over {cap} messages kept in memory while the disk is full")
            excess = backlog - cap
            spare = json.dumps(sorted({v[0] for v in victims} | set(self._in_flight.values())))
            victims += db.execute(
                "SELECT id, seq, kind FROM outbox WHERE id NOT IN"
                " (SELECT value FROM json_each(?)) ORDER BY priority, id LIMIT ?",
                (spare, excess),
            ).fetchall()
        if victims:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(v[0],) for v in victims])
        db.execute("COMMIT")
        if victims:
            seqs = [v[1] for v in victims if v[1] is not None]
            summary = {
                "count": len(victims),
                "first_sequence": min(seqs, default=0),
                "last_sequence": max(seqs, default=0),
                "types": dict(Counter(v[2] for v in victims)),
                "reason": reason,
            }
            self._stats.dropped += len(victims)
            log.warning("outbox dropped %d undelivered messages: %s", len(victims), reason)
            self._refresh_counts(db)
            self._on_dropped(summary)
