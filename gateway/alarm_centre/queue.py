"""What the alarm receiving centre has not acknowledged yet, kept in the state database.

A message is put in the queue inside the alarm change's own ``unit()`` (the alarm store and
the outbox commit it in the same transaction as the change), so once an alarm is accepted its
message to the centre is too; it leaves only when a receiver ACKs it. It keeps the DC-09
sequence number and the timestamp it was first given: a message sent again after a lost ACK
or a restart is the same message, which a receiver recognises and does not count twice.

Life-safety messages (panic, fire) go first: ``next()`` takes the oldest of them before any
other, whatever waited longer.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from gateway.outbox import StateWrite

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_centre_queue (
    id INTEGER PRIMARY KEY,
    life_safety INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    time TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL,
    what TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alarm_centre_sequence (one INTEGER PRIMARY KEY CHECK (one = 1),
                                                  last INTEGER NOT NULL);
"""


class Writer(Protocol):
    """The outbox: ``write`` commits with whatever else is in the current ``unit()``."""

    def write(self, change: StateWrite) -> None: ...


@dataclass(frozen=True)
class Queued:
    """One message waiting for the centre's ACK."""

    row: int
    life_safety: bool
    sequence: int  # 1..9999, DC-09's
    time: datetime  # its DC-09 timestamp, kept on every resend
    message: str  # SIA-DCS or ADM-CID
    data: str
    what: str  # for logs and the status: "panic raised at gate-house-io/btn-1"


def next_sequence(last: int) -> int:
    return last % 9999 + 1


class CentreQueue:
    def __init__(self, database: Path, writer: Writer) -> None:
        self._writer = writer
        db = sqlite3.connect(database, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)
            rows = db.execute("SELECT id, life_safety, sequence, time, message, data, what "
                              "FROM alarm_centre_queue ORDER BY id").fetchall()
            last = db.execute("SELECT last FROM alarm_centre_sequence").fetchone()
        finally:
            db.close()
        self._waiting = {row[0]: Queued(row[0], bool(row[1]), row[2],
                                        datetime.fromisoformat(row[3]), row[4], row[5], row[6])
                         for row in rows}
        self._last_row = max(self._waiting, default=0)
        self.last_sequence = last[0] if last else 0

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, life_safety: bool, time: datetime, message: str, data: str,
            what: str) -> Queued:
        """Queue a message (call inside the alarm change's ``unit()``)."""
        self._last_row += 1
        self.last_sequence = next_sequence(self.last_sequence)
        item = Queued(self._last_row, life_safety, self.last_sequence, time, message, data, what)
        self._waiting[item.row] = item
        self._writer.write(StateWrite(
            "INSERT INTO alarm_centre_queue (id, life_safety, sequence, time, message, data, "
            "what) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (item.row, int(life_safety), item.sequence, time.isoformat(), message, data, what)))
        self._writer.write(StateWrite(
            "INSERT OR REPLACE INTO alarm_centre_sequence (one, last) VALUES (1, ?)",
            (self.last_sequence,)))
        return item

    def take_sequence(self) -> int:
        """A sequence number for a message that is not queued (a link test)."""
        self.last_sequence = next_sequence(self.last_sequence)
        return self.last_sequence

    def next(self) -> Queued | None:
        """The message to send now: the oldest life-safety one, else the oldest."""
        first = None
        for item in self._waiting.values():  # in row order
            if item.life_safety:
                return item
            first = first or item
        return first

    def restamp(self, item: Queued, time: datetime) -> Queued:
        """A receiver refused the message's time (NAK): it is sent with a time it takes. It
        was not taken, so the new time makes no second message at the centre."""
        item = replace(item, time=time)
        self._waiting[item.row] = item
        self._writer.write(StateWrite("UPDATE alarm_centre_queue SET time = ? WHERE id = ?",
                                      (time.isoformat(), item.row)))
        return item

    def done(self, item: Queued) -> None:
        """The centre acknowledged it."""
        self._waiting.pop(item.row, None)
        self._writer.write(StateWrite("DELETE FROM alarm_centre_queue WHERE id = ?",
                                      (item.row,)))

    def waiting(self) -> list[Queued]:
        return list(self._waiting.values())
