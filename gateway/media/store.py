"""Snapshots and clips kept on the gateway's disk: files under ``<state_dir>/media/``, an index in
SQLite beside them, every file and the index readable by the gateway's user only (0600).

Each item has a time-ordered id (UUIDv7), its SHA-256, size, content type, camera, the alarm it
was taken for, and when it was captured. Caps come from the site file's ``media:``: an item
larger than ``max_item_bytes`` is refused; items older than ``max_age`` go; above ``max_bytes``
the oldest items not taken for an alarm go first, then the oldest alarm items, never those of
an alarm still open. Writes and deletions run on a worker thread (``asyncio.to_thread``) under
one lock, so the event loop never waits on the disk and concurrent snapshots never race.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import uuid6

from gateway.kernel.events import MediaReference
from gateway.media.config import Media

if TYPE_CHECKING:
    from gateway.config import Console

log = logging.getLogger(__name__)

SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "video/x-msvideo": ".avi",
            "video/mp4": ".mp4", "video/webm": ".webm"}
INDEX = "index.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS media (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, camera TEXT NOT NULL, alarm_id TEXT,
    content_type TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    captured_at REAL NOT NULL, stored_at REAL NOT NULL, file TEXT NOT NULL,
    seconds REAL, pre_seconds REAL, source TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS media_age ON media (stored_at);
CREATE INDEX IF NOT EXISTS media_alarm ON media (alarm_id);
"""
MediaKind = Literal["snapshot", "clip"]


class MediaRefused(Exception):
    """The store did not keep an item; the message says why."""


@dataclass(frozen=True, slots=True)
class StoredMedia:
    media_id: str
    kind: MediaKind
    camera: str
    alarm_id: str | None
    content_type: str
    size: int
    sha256: str
    captured_at: datetime
    stored_at: float
    path: Path
    seconds: float | None = None
    pre_seconds: float | None = None
    source: str = ""


def base_url_of(console: Console) -> str:
    """The console's own address, as another machine reaches it (media URLs by default)."""
    host = console.listen.host
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if console.tls else 'http'}://{host}:{console.listen.port}"


class MediaStore:
    def __init__(self, folder: Path, config: Media, default_base_url: str = "", *,
                 open_alarms: Callable[[], Iterable[str]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``folder``: ``<state_dir>/media``; ``open_alarms``: ids of the alarms still open
        (their media is never deleted); ``clock``: wall time, for tests."""
        self.folder = folder
        self.config = config
        self.base_url = (config.base_url or default_base_url).rstrip("/")
        self._open_alarms = open_alarms or (lambda: ())
        self._clock = clock
        self._lock = threading.Lock()
        old_umask = os.umask(0o077)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
            self._db = sqlite3.connect(folder / INDEX, check_same_thread=False,
                                       isolation_level=None)
        finally:
            os.umask(old_umask)
        (folder / INDEX).chmod(0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._tidy()

    # -- reading (any thread; quick) ----------------------------------------------------------

    def url_for(self, media_id: str) -> str:
        return f"{self.base_url}/media/{media_id}"

    def get(self, media_id: str) -> StoredMedia | None:
        if not _plausible_id(media_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM media WHERE id = ?", (media_id,)).fetchone()
        if row is None:
            return None
        item = self._item(row)
        return item if item.path.is_file() else None

    def items(self) -> list[StoredMedia]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM media ORDER BY stored_at, id").fetchall()
        return [self._item(row) for row in rows]

    def for_alarm(self, alarm_id: str) -> list[StoredMedia]:
        """The snapshots and clips taken for an alarm, oldest first (those still on disk)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM media WHERE alarm_id = ? ORDER BY "
                                    "captured_at, id", (alarm_id,)).fetchall()
        return [item for item in map(self._item, rows) if item.path.is_file()]

    @property
    def total_bytes(self) -> int:
        with self._lock:
            (total,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM media").fetchone()
        return int(total)

    # -- writing --------------------------------------------------------------------------------

    async def keep(self, camera: str, kind: MediaKind, content: bytes | Path,
                   content_type: str, *, alarm_id: str | None = None,
                   captured_at: datetime | None = None, seconds: float | None = None,
                   pre_seconds: float | None = None, source: str = "") -> MediaReference:
        """Store ``content`` (bytes, or a file moved in) off the loop; its reference."""
        keep = set(self._open_alarms())  # read on the loop, where the alarms live
        item = await asyncio.to_thread(self.keep_now, camera, kind, content, content_type,
                                       alarm_id=alarm_id, captured_at=captured_at,
                                       seconds=seconds, pre_seconds=pre_seconds,
                                       source=source, open_alarms=keep)
        return self.reference(item)

    def reference(self, item: StoredMedia) -> MediaReference:
        return MediaReference(media_id=item.media_id, kind=item.kind, camera=item.camera,
                              alarm_id=item.alarm_id, url=self.url_for(item.media_id),
                              sha256=item.sha256, size=item.size,
                              content_type=item.content_type, captured_at=item.captured_at,
                              seconds=item.seconds, pre_seconds=item.pre_seconds,
                              source=item.source)

    def keep_now(self, camera: str, kind: MediaKind, content: bytes | Path, content_type: str,
                 *, alarm_id: str | None = None, captured_at: datetime | None = None,
                 seconds: float | None = None, pre_seconds: float | None = None,
                 source: str = "", open_alarms: Iterable[str] = ()) -> StoredMedia:
        """The blocking part of ``keep`` (a worker thread)."""
        size = len(content) if isinstance(content, bytes) else _size(content)
        if size > self.config.max_item_bytes:
            if isinstance(content, Path):
                content.unlink(missing_ok=True)
            raise MediaRefused(f"{kind} of {size} bytes is larger than media.max_item_bytes "
                               f"({self.config.max_item_bytes})")
        if size == 0:
            raise MediaRefused(f"an empty {kind}")
        media_id = str(uuid6.uuid7())
        now = self._clock()
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        relative = Path(day) / f"{media_id}{SUFFIXES.get(content_type, '.bin')}"
        path = self.folder / relative
        with self._lock:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            digest = _write(content, path)
            captured = captured_at or datetime.fromtimestamp(now, UTC)
            item = StoredMedia(media_id, kind, camera, alarm_id, content_type, size, digest,
                               captured, now, path, seconds, pre_seconds, source)
            try:
                self._db.execute(
                    "INSERT INTO media (id, kind, camera, alarm_id, content_type, size, sha256,"
                    " captured_at, stored_at, file, seconds, pre_seconds, source) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (media_id, kind, camera, alarm_id, content_type, size, digest,
                     captured.timestamp(), now, str(relative), seconds, pre_seconds, source))
            except sqlite3.Error as exc:
                path.unlink(missing_ok=True)
                raise MediaRefused(f"the media index refuses the write: {exc}") from None
            self._enforce(now, set(open_alarms) | ({alarm_id} if alarm_id else set()),
                          spare=media_id)
        return item

    def prune(self, open_alarms: Iterable[str] = ()) -> int:
        """Apply the caps now (the gateway may call it now and then); items deleted."""
        with self._lock:
            return self._enforce(self._clock(), set(open_alarms), spare=None)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- inside the lock ----------------------------------------------------------------------

    def _enforce(self, now: float, open_alarms: set[str], spare: str | None) -> int:
        """Drop aged items, then the oldest until under max_bytes: non-alarm items first."""
        rows = self._db.execute("SELECT id, alarm_id, size, stored_at, file FROM media "
                                "ORDER BY stored_at, id").fetchall()
        deletable = [r for r in rows if r[0] != spare and r[1] not in open_alarms]
        gone: list[tuple[str, str]] = []
        oldest_allowed = now - self.config.max_age
        for row in deletable:
            if row[3] < oldest_allowed:
                gone.append((row[0], row[4]))
        total = sum(r[2] for r in rows) - sum(r[2] for r in deletable if r[3] < oldest_allowed)
        if total > self.config.max_bytes:
            left = [r for r in deletable if r[3] >= oldest_allowed]
            for row in sorted(left, key=lambda r: (r[1] is not None, r[3], r[0])):
                if total <= self.config.max_bytes:
                    break
                gone.append((row[0], row[4]))
                total -= row[2]
            if total > self.config.max_bytes:
                log.warning("media: %d bytes kept, over media.max_bytes (%d): what is left "
                            "belongs to open alarms", total, self.config.max_bytes)
        for media_id, relative in gone:
            (self.folder / relative).unlink(missing_ok=True)
            self._db.execute("DELETE FROM media WHERE id = ?", (media_id,))
        if gone:
            log.info("media: deleted %d items (caps: max_age %.0f s, max_bytes %d)", len(gone),
                     self.config.max_age, self.config.max_bytes)
        return len(gone)

    def _tidy(self) -> None:
        """After a crash: index rows without a file, files without a row, partial writes."""
        with self._lock:
            rows = self._db.execute("SELECT id, file FROM media").fetchall()
            known = set()
            for media_id, relative in rows:
                if (self.folder / relative).is_file():
                    known.add(relative)
                else:
                    self._db.execute("DELETE FROM media WHERE id = ?", (media_id,))
            for day in self.folder.iterdir():
                if not day.is_dir():
                    continue
                for path in day.iterdir():
                    if str(path.relative_to(self.folder)) not in known:
                        path.unlink(missing_ok=True)

    def _item(self, row: Any) -> StoredMedia:
        (media_id, kind, camera, alarm_id, content_type, size, digest, captured, stored,
         relative, seconds, pre_seconds, source) = row
        return StoredMedia(media_id, kind, camera, alarm_id, content_type, size, digest,
                           datetime.fromtimestamp(captured, UTC), stored,
                           self.folder / relative, seconds, pre_seconds, source)


def _plausible_id(media_id: str) -> bool:
    return len(media_id) == 36 and all(c in "0123456789abcdef-" for c in media_id)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise MediaRefused(f"cannot read {path}: {exc.strerror}") from None


def _write(content: bytes | Path, path: Path) -> str:
    """Write or move ``content`` to ``path`` (0600, whole or not at all); its SHA-256."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        if isinstance(content, bytes):
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
            digest = hashlib.sha256(content).hexdigest()
        else:
            shutil.move(content, partial)
            partial.chmod(0o600)
            digest = _hash_file(partial)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise MediaRefused(f"cannot write {path.name}: {exc.strerror or exc}") from None
    return digest


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
