"""The zone analytics over a foreground mask: crowding in a polygon, intrusion into a polygon,
crossing a line. Pure: a ``Foreground`` and timestamps in, state changes out.

``at`` is a monotonic time in seconds (durations), ``wall`` the frame's wall-clock time (POSIX
seconds: schedules and the changes' ``at``). ``armed`` callables take ``wall`` and say whether
the gateway's schedule arms the zone then.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from drivers.video.foreground import (
    BlobTracker,
    Foreground,
    blobs_of,
    inside,
    polygon_mask,
    segments_cross,
    side,
    to_pixels,
)
from drivers.video.frames import AnalyticChange, Hold
from drivers.video.models import CrowdingZone, IntrusionZone, LineCrossing

Armed = Callable[[float], bool]


def _always(_wall: float) -> bool:
    return True


class CrowdingDetector:
    """Occupancy of a polygon: the share of it in foreground, and optionally a head count
    (each foreground region inside the polygon counts ``round(area / person_area)`` people,
    at least one if it is at least 40 % of a person).

    Score: the estimated people if ``people`` is configured, else the occupancy (0..1).
    """

    def __init__(self, config: CrowdingZone) -> None:
        self.config = config
        self._hold = Hold(config.raise_after, config.clear_after)
        self._mask: np.ndarray | None = None
        self._area = 0
        self.occupancy = 0.0
        self.people: int | None = None

    @property
    def active(self) -> bool:
        return self._hold.active

    def _zone(self, shape: tuple[int, ...]) -> np.ndarray:
        if self._mask is None or self._mask.shape != shape[:2]:
            self._mask = polygon_mask(self.config.points, shape[1], shape[0])
            self._area = max(1, int(np.count_nonzero(self._mask)))
        return self._mask

    def estimate(self, foreground: Foreground) -> tuple[float, int | None]:
        """(occupancy 0..1, estimated people or None without ``person_area``)."""
        zone = self._zone(foreground.mask.shape)
        inside_zone = cv2.bitwise_and(foreground.mask, zone)
        occupancy = float(np.count_nonzero(inside_zone)) / self._area
        person = self.config.person_area
        if person is None:
            return occupancy, None
        people = sum(max(1, round(b.area / person))
                     for b in blobs_of(inside_zone, max(1, math.ceil(0.4 * person))))
        return occupancy, people

    def update(self, foreground: Foreground, at: float, wall: float) -> list[AnalyticChange]:
        cfg = self.config
        self.occupancy, self.people = occupancy, people = self.estimate(foreground)
        over = occupancy >= cfg.occupancy
        under = occupancy < cfg.occupancy * cfg.hysteresis
        if cfg.people is not None and people is not None:
            over = over or people >= cfg.people
            under = under and people < cfg.people * cfg.hysteresis
        outcome = self._hold.update(at, over, under)
        if outcome is None:
            return []
        count = f", about {people} people" if people is not None else ""
        limit = f" or {cfg.people} people" if cfg.people is not None else ""
        verb = "raises at" if outcome else "cleared under"
        share = cfg.occupancy if outcome else cfg.occupancy * cfg.hysteresis
        reason = (f"{occupancy:.0%} of zone {cfg.id} occupied{count} ({verb} {share:.0%}"
                  f"{limit if outcome else ''})")
        score = float(people) if cfg.people is not None and people is not None else occupancy
        return [AnalyticChange("crowding", "crowding", outcome, reason, score, wall, cfg.id)]


class IntrusionDetector:
    """Something of at least ``min_area`` pixels with its centre inside the polygon, for
    ``min_duration``, while armed. Clears ``clear_after`` after the zone is empty, or at once
    when the schedule disarms it. Score: the largest such blob's area in pixels."""

    def __init__(self, config: IntrusionZone, armed: Armed | None = None) -> None:
        self.config = config
        self.armed = armed or _always
        self._hold = Hold(config.min_duration, config.clear_after)
        self._polygon: np.ndarray | None = None
        self._shape: tuple[int, ...] = ()

    @property
    def active(self) -> bool:
        return self._hold.active

    def update(self, foreground: Foreground, at: float, wall: float) -> list[AnalyticChange]:
        cfg = self.config
        shape = foreground.mask.shape
        if self._polygon is None or self._shape != shape:
            self._polygon, self._shape = to_pixels(cfg.points, shape[1], shape[0]), shape
        polygon = self._polygon
        if not self.armed(wall):
            was = self._hold.active
            self._hold.reset()
            if was:
                return [AnalyticChange("intrusion", "intrusion", False,
                                       f"zone {cfg.id} disarmed by its schedule", 0.0, wall,
                                       cfg.id)]
            return []
        intruders = [b for b in foreground.blobs
                     if b.area >= cfg.min_area and inside(polygon, b.x, b.y)]
        outcome = self._hold.update(at, bool(intruders), not intruders)
        if outcome is None:
            return []
        if outcome:
            largest = max(intruders, key=lambda b: b.area)
            reason = (f"{len(intruders)} object(s) in zone {cfg.id}, largest {largest.area} px "
                      f"at ({largest.x:.0f}, {largest.y:.0f})")
            return [AnalyticChange("intrusion", "intrusion", True, reason, float(largest.area),
                                   wall, cfg.id)]
        return [AnalyticChange("intrusion", "intrusion", False,
                               f"zone {cfg.id} empty for {cfg.clear_after:g} s", 0.0, wall,
                               cfg.id)]


class LineCrossingDetector:
    """A blob of at least ``min_area`` pixels whose centre moves across the segment between two
    analysed frames, in the configured direction, while armed. Raises on the first crossing;
    further crossings keep it raised; clears ``clear_after`` seconds after the last one.
    Score: crossings counted while raised."""

    def __init__(self, config: LineCrossing, armed: Armed | None = None, *,
                 max_age: float = 1.0) -> None:
        self.config = config
        self.armed = armed or _always
        self._max_age = max_age
        self._tracker: BlobTracker | None = None
        self._shape: tuple[int, ...] = ()
        self._a = self._b = (0.0, 0.0)
        self._last_crossing: float | None = None
        self.crossings = 0

    @property
    def active(self) -> bool:
        return self._last_crossing is not None

    def reset_tracks(self) -> None:
        """Forget where blobs were (after a frame that could not be trusted)."""
        if self._tracker is not None:
            self._tracker.reset()

    @staticmethod
    def _direction(before: float, after: float) -> str | None:
        # a centre exactly on the line counts as on the right, so no crossing is lost or doubled
        if before < 0 <= after:
            return "left_to_right"
        if after < 0 <= before:
            return "right_to_left"
        return None

    def update(self, foreground: Foreground, at: float, wall: float) -> list[AnalyticChange]:
        cfg = self.config
        shape = foreground.mask.shape
        if self._tracker is None or self._shape != shape:
            height, width = shape[0], shape[1]
            self._tracker = BlobTracker(max_jump=0.15 * math.hypot(width, height),
                                        max_age=self._max_age)
            (ax, ay), (bx, by) = to_pixels([cfg.a, cfg.b], width, height).tolist()
            self._a, self._b = (float(ax), float(ay)), (float(bx), float(by))
            self._shape = shape
        tracks = self._tracker.update([b for b in foreground.blobs if b.area >= cfg.min_area],
                                      at)
        armed = self.armed(wall)
        changes: list[AnalyticChange] = []
        if not armed and self._last_crossing is not None:
            self._last_crossing, self.crossings = None, 0
            changes.append(AnalyticChange("line", "line_crossing", False,
                                          f"line {cfg.id} disarmed by its schedule", 0.0, wall,
                                          cfg.id))
        for track in tracks if armed else ():
            if track.previous is None:
                continue
            p, q = track.previous, (track.x, track.y)
            if not segments_cross(p, q, self._a, self._b):
                continue
            direction = self._direction(side(self._a, self._b, *p), side(self._a, self._b, *q))
            if direction is None or cfg.direction not in ("any", direction):
                continue
            self.crossings += 1
            if self._last_crossing is None:
                changes.append(AnalyticChange(
                    "line", "line_crossing", True,
                    f"object of {track.area} px crossed line {cfg.id} "
                    f"{direction.replace('_', ' ')}", float(self.crossings), wall, cfg.id))
            self._last_crossing = at
        if (self._last_crossing is not None and at - self._last_crossing >= cfg.clear_after):
            changes.append(AnalyticChange(
                "line", "line_crossing", False,
                f"no crossing of line {cfg.id} for {cfg.clear_after:g} s "
                f"({self.crossings} while raised)", float(self.crossings), wall, cfg.id))
            self._last_crossing, self.crossings = None, 0
        return changes
