"""Which rows go next: the outbox's two lanes.

The life-safety lane goes first and is fair between devices: the devices with life-safety rows
waiting take turns, one row each, so a device flooding its alarms never delays another device's;
each row goes with the earlier ordinary rows of its own device that are still waiting (a
device's order is never broken). The ordinary lane follows, in acceptance order, from a cursor.
Only row ids are held here; the rows themselves are read from the database as they are handed.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

from gateway.outbox.store import COLUMNS


class Lanes:
    def __init__(self) -> None:
        self._cursor = 0  # the ordinary lane: the last row id it handed over
        self._urgent: dict[str, deque[int]] = {}  # the life-safety lane: rows waiting, by device
        self._ring: deque[str] = deque()  # devices with life-safety rows waiting, in turn
        self._handed_ahead: set[int] = set()  # ordinary rows handed before a life-safety one

    def rebuild(self, db: sqlite3.Connection, in_flight: set[int]) -> None:
        """Start afresh from what ``db`` holds, leaving out the rows already ``in_flight``."""
        self._cursor, self._handed_ahead = 0, set(in_flight)
        self._urgent, self._ring = {}, deque()
        for row_id, device in db.execute(
                "SELECT id, device FROM outbox WHERE priority = 1 ORDER BY id"):
            if row_id not in self._handed_ahead:
                self.queue(row_id, device)

    def queue(self, row_id: int, device: str) -> None:
        waiting = self._urgent.get(device)
        if waiting is None:
            waiting = self._urgent[device] = deque()
            self._ring.append(device)
        waiting.append(row_id)

    def forget(self, row_id: int) -> None:
        """A row that left the outbox without being handed (set aside)."""
        self._handed_ahead.discard(row_id)


    def next_rows(self, db: sqlite3.Connection, room: int) -> list[tuple[Any, ...]]:
        """Up to ``room`` rows in hand-over order: life-safety rows first, devices in turn.

        The life-safety lane takes one row from each device that has some waiting, round and
        round, so one device's backlog never delays another device's alarm; each row comes
        with the earlier ordinary rows of its own device still waiting, so a device's order is
        never broken. Ordinary rows follow once no life-safety row waits.
        """
        picked: dict[str, list[int]] = {}
        count = 0
        while count < room and self._ring:
            device = self._ring[0]
            waiting = self._urgent[device]
            picked.setdefault(device, []).append(waiting.popleft())
            count += 1
            if waiting:
                self._ring.rotate(-1)
            else:
                self._ring.popleft()
                del self._urgent[device]
        turns: list[deque[list[tuple[Any, ...]]]] = []  # per device: its rows, one turn each
        if picked:
            wanted = [row_id for ids in picked.values() for row_id in ids]
            rows = {row[0]: row for start in range(0, len(wanted), 500)
                    for row in db.execute(
                        f"SELECT {COLUMNS} FROM outbox WHERE id IN"
                        f" ({','.join('?' * len(wanted[start:start + 500]))})",
                        wanted[start:start + 500]).fetchall()}
            for device, ids in picked.items():
                ahead = [row for row in db.execute(
                    f"SELECT {COLUMNS} FROM outbox WHERE device = ? AND priority = 0"
                    " AND id > ? AND id < ? ORDER BY id", (device, self._cursor, ids[-1]))
                    if row[0] not in self._handed_ahead]
                self._handed_ahead.update(row[0] for row in ahead)
                mine: deque[list[tuple[Any, ...]]] = deque()
                turn: list[tuple[Any, ...]] = []
                # rows a cap deleted meanwhile are simply not there any more
                for row in sorted(ahead + [rows[i] for i in ids if i in rows]):
                    turn.append(row)
                    if row[0] in rows:  # a life-safety row ends the device's turn
                        mine.append(turn)
                        turn = []
                turns.append(mine)
        out: list[tuple[Any, ...]] = []
        while turns:  # the same rows, handed in turns, so paho sends them interleaved too
            for mine in turns:
                out += mine.popleft()
            turns = [mine for mine in turns if mine]
        if self._ring or len(out) >= room:
            return out
        for row in db.execute(
                f"SELECT {COLUMNS} FROM outbox WHERE priority = 0 AND id > ?"
                " ORDER BY id LIMIT ?",
                (self._cursor, room - len(out) + len(self._handed_ahead))).fetchall():
            if len(out) >= room:
                break
            self._cursor = row[0]
            if row[0] in self._handed_ahead:
                self._handed_ahead.discard(row[0])
            else:
                out.append(row)
        if self._handed_ahead:  # some were delivered and deleted before the cursor came
            self._handed_ahead = {i for i in self._handed_ahead if i > self._cursor}
        return out
