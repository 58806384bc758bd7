"""Messages that cannot be published, and state changes the database refuses: neither may
hold up a lane. A message over ``outbox.max_message``, one that cannot be encoded, one the MQTT
client refuses, or one the broker refuses ``REFUSALS_BEFORE_ASIDE`` times, is moved into the table
``outbox_aside`` (its first ``ASIDE_HEAD`` bytes; the last ``ASIDE_KEPT`` are kept) and announced;
a state change the database refuses (a part's defect) is logged and left out of its commit.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any

from gateway.outbox.store import Outgoing, StateWrite, Unencodable, row_of

log = logging.getLogger(__name__)

REFUSALS_BEFORE_ASIDE = 3  # a row the broker refused this often is set aside
ASIDE_KEPT = 1000  # rows set aside kept for diagnosis (the first bytes of each); the oldest go
ASIDE_HEAD = 512


def rows_or_aside(items: list[tuple[Outgoing, int, int | None]], now: float, durable: bool,
          ) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """The rows of the items that encode, and a set-aside entry for each that does not."""
    rows: list[tuple[Any, ...]] = []
    aside: list[dict[str, Any]] = []
    for work, rid, rseq in items:
        try:
            rows.append(row_of(work, rid, rseq, now, durable))
        except Unencodable as exc:
            aside.append({"row": rid, "device": work.device, "kind": work.kind,
                          "sequence": rseq, "topic": work.topic, "size": 0,
                          "reason": str(exc), "head": repr(work.body)[:ASIDE_HEAD].encode(),
                          "life_safety": work.life_safety})
    return rows, aside

def writes_that_apply(db: sqlite3.Connection, writes: list[StateWrite]) -> list[StateWrite]:
    """The state writes the database takes, each tried alone; one it refuses (a defect of
    the part that made it: a constraint, a wrong statement) is logged and left out, so the
    messages committed with it, and every later batch, still go."""
    kept: list[StateWrite] = []
    for change in writes:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(change.sql, change.params)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError,
                sqlite3.InterfaceError) as exc:
            log.error("outbox: a state change was refused by the database and left out "
                      "(%s): %s %r", exc, change.sql, change.params[:8])
        else:
            kept.append(change)
        finally:
            db.execute("ROLLBACK")
    return kept

def aside_writes(entries: list[dict[str, Any]]) -> list[StateWrite]:
    """The rows of ``entries`` into ``outbox_aside``, and the oldest past ``ASIDE_KEPT`` out."""
    if not entries:
        return []
    now = time.time()
    return [*(StateWrite(
        "INSERT OR REPLACE INTO outbox_aside (id, moved, device, kind, seq, topic, size,"
        " reason, head) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (entry["row"], now, entry["device"], entry["kind"], entry["sequence"],
         entry["topic"], entry["size"], entry["reason"], entry["head"])) for entry in entries),
        StateWrite("DELETE FROM outbox_aside WHERE id NOT IN (SELECT id FROM outbox_aside"
                   " ORDER BY id DESC LIMIT ?)", (ASIDE_KEPT,))]
