"""The outbox's store: the state database, its tables, and what one message and one row are.

``state_database`` makes the state dir private and names the file; ``SCHEMA`` holds the outbox,
its sequence counter and the messages set aside (the alarm store and the other state tables are
made by their own modules in the same file). A message to publish is an ``Outgoing``; a change
of the gateway's own state committed with it is a ``StateWrite``; ``row_of`` turns a message into
the row that is committed (its JSON, its sequence number), or raises ``Unencodable``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.kernel.fields import ConfigError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    priority INTEGER NOT NULL,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    expiry INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_lane ON outbox (priority, id);
CREATE INDEX IF NOT EXISTS outbox_device ON outbox (device, priority, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_aside (
    id INTEGER PRIMARY KEY,
    moved REAL NOT NULL,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER,
    topic TEXT NOT NULL,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL,
    head BLOB NOT NULL
);
"""

STATE_FILE = "state.sqlite3"
LEGACY_OUTBOX = "outbox.sqlite3"  # the file's name before it also kept the alarm store


def state_database(state_dir: Path) -> Path:
    """The state database in ``state_dir``, with the directory made private and writable.

    The directory is kept 0700 and its files 0600 whatever the umask (they hold the event
    history, the alarms and the audit trail); wider modes found at start are narrowed, and
    said so. A directory that cannot be made or written is a ConfigError naming it. An outbox
    of an earlier version is moved into place.
    """
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private(state_dir, 0o700)
        for entry in state_dir.iterdir():
            if entry.is_file():
                _private(entry, 0o600)
        probe = state_dir / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"state dir {state_dir}: {exc.strerror or exc}: the gateway keeps its outbox and "
            "alarms there; give gateway.state_dir a writable directory of the gateway's user"
        ) from None
    path = state_dir / STATE_FILE
    legacy = state_dir / LEGACY_OUTBOX
    if legacy.exists() and not path.exists():
        for suffix in ("", "-wal", "-shm"):
            old = legacy.with_name(legacy.name + suffix)
            if old.exists():
                old.rename(path.with_name(path.name + suffix))
    return path


def _private(path: Path, mode: int) -> None:
    current = path.stat().st_mode & 0o777
    if current & ~mode:
        path.chmod(mode)
        log.warning("%s was readable by others (mode %o); now %o", path, current, mode)


@dataclass(frozen=True)
class Outgoing:
    """One message to publish. ``body`` None sends an empty payload (clears a retained topic)."""

    topic: str
    body: dict[str, Any] | None
    device: str
    kind: str
    retain: bool = False
    qos: int = 1
    life_safety: bool = False
    sequenced: bool = False  # gets the next per-gateway sequence number as body["seqno"]
    content_type: str = "application/json"
    expiry: int | None = None


@dataclass(frozen=True)
class StateWrite:
    """One change to the gateway's own state, committed with the messages put beside it."""

    sql: str
    params: tuple[Any, ...] = ()


Work = Outgoing | StateWrite


class Unencodable(ValueError):
    """A message whose body cannot be written as JSON (an integer past 64 bits, say)."""


def row_of(work: Outgoing, row_id: int, seq: int | None, now: float,
         durable: bool) -> tuple[Any, ...]:
    body = work.body
    if body is not None and work.sequenced:  # events (not retained states) carry both
        body = {**body, **({"seqno": seq} if seq is not None else {}),
                **({} if durable else {"durable": False})}
    try:
        payload = b"" if body is None else orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise Unencodable(f"cannot be written as JSON: {exc}") from None
    return (row_id, now, int(work.life_safety), work.device, work.kind, seq, work.topic,
            payload, work.qos, int(work.retain), work.content_type, work.expiry)


@dataclass
class OutboxStats:
    backlog: int = 0
    life_safety_backlog: int = 0
    in_flight: int = 0
    accepted: int = 0
    delivered: int = 0
    dropped: int = 0
    rejected: int = 0
    set_aside: int = 0  # rows that could not be published, moved out of the lanes
    last_sequence: int = 0
    storage: str = ""  # why events are not stored on disk right now ("" while they are)


# the columns of a row as it is handed to MQTT
COLUMNS = "id, topic, payload, qos, retain, content_type, expiry"
# every column of a row, in the order ``row_of`` makes it
ROW = ("id, created, priority, device, kind, seq, topic, payload, qos, retain, content_type,"
       " expiry")
ROW_MARKS = ", ".join("?" * len(ROW.split(",")))
