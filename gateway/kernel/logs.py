"""How the gateway logs: one record is one line, whatever a peer sends, and a peer that repeats
itself is summarised instead of filling the disk.

* ``SafeFormatter`` escapes control characters (newlines, carriage returns, escape sequences) in
  every message, so an operator name or a device string with a newline cannot forge a log line.
* ``LogLimiter`` logs the first record of a kind (per peer, per device) at once, counts the
  ones that follow, and says "... 12,345 more like this in the last 60 s" with the next one
  after the period.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
                 0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape(text: str) -> str:
    """``text`` with every control character written as an escape."""
    return text.translate(_CONTROL)


class SafeFormatter(logging.Formatter):
    """A formatter whose message part never spans lines (tracebacks keep theirs)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (for journald or a log shipper): time, level, logger, message,
    and the device, event and alarm ids where the record carries them (``extra=``)."""

    FIELDS = ("device", "event_id", "alarm_id", "peer")

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["traceback"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class LogLimiter:
    """At most one record per key and period; the rest are counted and reported with the next."""

    MAX_KEYS = 4096

    def __init__(self, logger: logging.Logger, period: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._period = period
        self._clock = clock
        self._seen: OrderedDict[Hashable, list[float | int]] = OrderedDict()  # since, held

    def warning(self, key: Hashable, message: str, *args: Any) -> None:
        self.log(logging.WARNING, key, message, *args)

    def info(self, key: Hashable, message: str, *args: Any) -> None:
        self.log(logging.INFO, key, message, *args)

    def log(self, level: int, key: Hashable, message: str, *args: Any) -> None:
        now = self._clock()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self._period:
            entry[1] += 1
            return
        held = int(entry[1]) if entry is not None else 0
        self._seen[key] = [now, 0]
        self._seen.move_to_end(key)
        while len(self._seen) > self.MAX_KEYS:
            self._seen.popitem(last=False)
        if held:
            message += " (... and %d more like this in the last %.0f s)"
            args = (*args, held, self._period)
        self._log.log(level, message, *args)
