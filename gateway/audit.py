"""The audit log: append-only JSON lines in ``<state_dir>/audit.jsonl``, for every command that
changed something and every refusal.

A thread of its own writes and fsyncs, so the event loop (and the alarms on it) never waits for
the disk. ``record_durably`` returns once the record is on disk: an accepted command is
answered only after that. Records are bounded: arguments longer than ``MAX_ARGS`` bytes of JSON
are cut (and say how long they were), and at most ``MAX_QUEUE`` records wait for the disk; more
are counted and written as one summary record, so a flood of requests cannot fill the disk or
the memory.

The file rotates at ``max_bytes`` (10 MiB): ``audit.jsonl`` becomes ``audit.jsonl.1`` (and so
on, ``keep`` files, 20 by default, the oldest deleted), only after its last record was
fsynced, and the directory is fsynced after the renames, so a rotation never loses a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_ARGS = 1024
MAX_QUEUE = 10_000


def bounded_args(args: Any) -> dict[str, Any]:
    """``args`` as they go into a record: as given when small, else cut, saying so."""
    text = json.dumps(args, default=str, ensure_ascii=False)
    if len(text) <= MAX_ARGS and isinstance(args, dict):
        return args
    return {"_cut": text[:MAX_ARGS], "_bytes": len(text.encode())}


class AuditLog:
    def __init__(self, path: Path, max_bytes: int = 10 * 1024 * 1024, keep: int = 20) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._keep = keep
        self._queue: queue.Queue[tuple[dict[str, Any], asyncio.Future[None] | None] | None] = (
            queue.Queue(MAX_QUEUE))
        self._lost = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self._file = self.path.open("a", encoding="utf-8")
        self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
        self._thread.start()

    def record(self, record: dict[str, Any]) -> None:
        """Queue a record; never blocks. Beyond MAX_QUEUE waiting, it is only counted."""
        try:
            self._queue.put_nowait((record, None))
        except queue.Full:
            self._lost += 1

    async def record_durably(self, record: dict[str, Any]) -> None:
        """Queue a record and return once it is written and fsynced."""
        assert self._loop is not None, "start() the audit log inside the event loop"
        future: asyncio.Future[None] = self._loop.create_future()
        try:
            self._queue.put_nowait((record, future))
        except queue.Full:
            await asyncio.to_thread(self._queue.put, (record, future))
        await future

    def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._thread = None
        self._file.close()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:
                    batch.append(self._queue.get_nowait())
            stop = None in batch
            items = [item for item in batch if item is not None]
            if self._lost:
                lost, self._lost = self._lost, 0
                items.append(({"command": "*", "outcome": "denied", "error": f"{lost} records "
                               "not written one by one: too many at once"}, None))
            error: OSError | None = None
            try:
                for record, _ in items:
                    self._file.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
                self._file.flush()
                os.fsync(self._file.fileno())
                if self._file.tell() >= self._max_bytes:
                    self._rotate()
            except OSError as exc:
                log.error("cannot write the audit log %s: %s", self.path, exc)
                error = exc
            for _, future in items:
                if future is not None and self._loop is not None:
                    with contextlib.suppress(RuntimeError):
                        self._loop.call_soon_threadsafe(_done, future, error)
            if stop:
                return

    def _rotate(self) -> None:
        """audit.jsonl -> .1 -> .2 ... (the last record of the old file is already on disk)."""
        self._file.close()
        oldest = self._rotated(self._keep)
        if oldest.exists():
            oldest.unlink()
        for n in range(self._keep - 1, 0, -1):
            if self._rotated(n).exists():
                self._rotated(n).rename(self._rotated(n + 1))
        self.path.rename(self._rotated(1))
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the renames are on disk before anything new is written
        finally:
            os.close(directory)
        self._file = self.path.open("a", encoding="utf-8")

    def _rotated(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")


def _done(future: asyncio.Future[None], error: OSError | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
