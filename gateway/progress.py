"""How far a long command has got: a bar redrawn in place on a terminal, else plain lines.

A credential import of a million rows sends some thousands of requests at the operator's rate:
the person at the terminal sees a bar with the time left; a log or a script sees one line at
each tenth (no carriage returns to garble it).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, label: str, total: int, unit: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(0, total)
        self.unit = unit
        self.done = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._shown = -1  # the last percentage (terminal) or tenth (lines) shown
        self._started = time.monotonic()

    def step(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        percent = 100 * self.done // self.total if self.total else 100
        if self._tty and percent != self._shown:
            self._shown = percent
            self._stream.write(f"\r{self._bar(percent)}")
            self._stream.flush()
        elif not self._tty and percent // 10 != self._shown:
            self._shown = percent // 10
            self._stream.write(f"{self.label}: {percent}% ({self.done:,} of {self.total:,} "
                               f"{self.unit})\n")
            self._stream.flush()

    def close(self) -> None:
        if self._tty and self._shown >= 0:
            self._stream.write("\n")
            self._stream.flush()

    def _bar(self, percent: int) -> str:
        filled = WIDTH * percent // 100
        left = ""
        elapsed = time.monotonic() - self._started
        if 0 < self.done < self.total and elapsed > 1:
            seconds = int(elapsed * (self.total - self.done) / self.done)
            left = f", {seconds // 60}:{seconds % 60:02d} left"
        return (f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {percent:3d}% "
                f"{self.done:,}/{self.total:,} {self.unit}{left}   ")
