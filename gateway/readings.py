"""A device's retry of a reading is the same event: the identities of readings lately accepted.

A controller that got no answer (or a 500) pushes the same card read again; a transmitter that
missed our ACK sends the same frame. A driver names each reading by the device's own identity
(``Event.reading``: its serial number, or a digest of its time and content). The identity is
remembered per device for ``intake.repeat_window``, in the state database and in the same
transaction as the events it made, so a retry after a crash is recognised too; a retry is taken
(the device gets its answer) and makes no new event, so the stream carries one event with one id.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from pathlib import Path

from gateway.alarms import StateWriter
from gateway.outbox import StateWrite

PER_DEVICE = 10_000  # identities kept per device; the oldest go first past it
PRUNE_EVERY = 60.0


class RecentReadings:
    SCHEMA = ("CREATE TABLE IF NOT EXISTS readings (device TEXT NOT NULL, reading TEXT NOT NULL,"
              " until REAL NOT NULL, PRIMARY KEY (device, reading))")

    def __init__(self, path: Path, writer: StateWriter, window: float) -> None:
        self._writer = writer
        self._window = window
        self._until: dict[str, OrderedDict[str, float]] = {}
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            db.execute(self.SCHEMA)
            now = time.time()
            for device, reading, until in db.execute(
                    "SELECT device, reading, until FROM readings WHERE until > ? ORDER BY until",
                    (now,)):
                self._until.setdefault(device, OrderedDict())[reading] = until
        finally:
            db.close()
        self._pruned = time.monotonic()

    def seen(self, device: str, reading: str) -> bool:
        mine = self._until.get(device)
        until = mine.get(reading) if mine is not None else None
        return until is not None and until > time.time()

    def remember(self, device: str, reading: str) -> None:
        """Keep ``reading``; call inside the unit that commits the events it made."""
        until = time.time() + self._window
        mine = self._until.setdefault(device, OrderedDict())
        mine[reading] = until
        mine.move_to_end(reading)
        while len(mine) > PER_DEVICE:
            mine.popitem(last=False)
        self._writer.write(StateWrite("INSERT OR REPLACE INTO readings (device, reading, until)"
                                      " VALUES (?, ?, ?)", (device, reading, until)))
        if time.monotonic() - self._pruned > PRUNE_EVERY:
            self._prune()

    def _prune(self) -> None:
        now = time.time()
        self._pruned = time.monotonic()
        for device, mine in list(self._until.items()):
            while mine and next(iter(mine.values())) <= now:
                mine.popitem(last=False)
            if not mine:
                del self._until[device]
        self._writer.write(StateWrite("DELETE FROM readings WHERE until <= ?", (now,)))
