"""The camera's pan/tilt head: presets from the site file, moves that take time.

Positions are in the ONVIF generic spaces (pan and tilt -1..1, zoom 0..1). A move to a preset
runs at a fixed angular speed, scaled by the request's Speed, so ``GetStatus`` reports MOVING
and an intermediate position while it turns, then IDLE at the preset. The picture follows the
pan (the scene renders the part of its panorama the head points at).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

PAN_SPEED = 2.0  # generic-space units per second at Speed 1 (a full sweep in about a second)


@dataclass(frozen=True)
class Preset:
    token: str
    name: str
    pan: float
    tilt: float = 0.0
    zoom: float = 0.0


@dataclass(frozen=True)
class Position:
    pan: float
    tilt: float
    zoom: float


class PanTiltHead:
    def __init__(self, names: list[str]) -> None:
        count = len(names)
        self.presets = [
            Preset(str(n + 1), name, round(-1 + 2 * n / (count - 1), 4) if count > 1 else 0.0)
            for n, name in enumerate(names)
        ]
        home = self.presets[0] if self.presets else None
        self._from = Position(home.pan, home.tilt, home.zoom) if home else Position(0, 0, 0)
        self._to = self._from
        self._started = 0.0
        self._duration = 0.0
        self.preset: Preset | None = home
        self.moves = 0

    @property
    def enabled(self) -> bool:
        return bool(self.presets)

    def find(self, token_or_name: str) -> Preset | None:
        for preset in self.presets:
            if token_or_name in (preset.token, preset.name):
                return preset
        return None

    def goto(self, preset: Preset, speed: float | None = None) -> float:
        """Start turning to ``preset``; returns how long the move takes, in seconds."""
        now = time.monotonic()
        start = self.position(now)
        distance = max(abs(preset.pan - start.pan), abs(preset.tilt - start.tilt),
                       abs(preset.zoom - start.zoom))
        rate = PAN_SPEED * (speed if speed and speed > 0 else 1.0)
        self._from = start
        self._to = Position(preset.pan, preset.tilt, preset.zoom)
        self._started = now
        self._duration = distance / rate
        self.preset = preset
        self.moves += 1
        return self._duration

    def halt(self) -> None:
        """Stop where the head is now (PTZ Stop)."""
        here = self.position()
        self._from = self._to = here
        self._duration = 0.0

    def moving(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return now < self._started + self._duration

    def position(self, now: float | None = None) -> Position:
        now = time.monotonic() if now is None else now
        if self._duration <= 0 or now >= self._started + self._duration:
            return self._to
        share = (now - self._started) / self._duration
        a, b = self._from, self._to
        return Position(a.pan + (b.pan - a.pan) * share, a.tilt + (b.tilt - a.tilt) * share,
                        a.zoom + (b.zoom - a.zoom) * share)

    def view(self) -> dict[str, object]:
        position = self.position()
        return {"preset": self.preset.name if self.preset else None,
                "moving": self.moving(),
                "position": {"pan": round(position.pan, 3), "tilt": round(position.tilt, 3),
                             "zoom": round(position.zoom, 3)},
                "presets": [{"token": p.token, "name": p.name} for p in self.presets],
                "moves": self.moves}
