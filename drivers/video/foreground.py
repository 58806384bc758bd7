"""What moves against the learnt background: a foreground mask, its blobs, and blob tracks.

No person detector: OpenCV 5 has no HOG or cascades and no PyPI package ships a detection model
that works offline. A blob is "something that differs from the background", which a person
walking is, and so are a cart, a dog, a shadow or headlights. The zone analytics say so in
their docs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from drivers.video.models import Point

FOREGROUND = 255  # MOG2 marks shadows 127: they are not counted
BACKGROUND_RATIO = 0.9  # MOG2's default
_OPEN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))


@dataclass(frozen=True, slots=True)
class Blob:
    """One connected foreground region, in analysis-frame pixels."""

    area: int
    x: float  # centroid
    y: float
    box: tuple[int, int, int, int]  # left, top, width, height


@dataclass(frozen=True, slots=True)
class Foreground:
    mask: np.ndarray  # uint8, 255 where foreground
    blobs: tuple[Blob, ...]
    fraction: float  # share of the whole frame in foreground
    relearnt: bool = False  # the whole scene changed; the background restarted from this frame


def blobs_of(mask: np.ndarray, min_area: int = 1) -> tuple[Blob, ...]:
    count, _labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found = []
    for i in range(1, count):
        area = int(stats[i, cv2.CC_STAT_AREA])
        if area >= min_area:
            box = (int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_TOP]),
                   int(stats[i, cv2.CC_STAT_WIDTH]), int(stats[i, cv2.CC_STAT_HEIGHT]))
            found.append(Blob(area, float(centroids[i, 0]), float(centroids[i, 1]), box))
    return tuple(found)


class ForegroundModel:
    """MOG2 background subtraction with shadow detection, then a morphological open (speckle)
    and close (a person split by a railing into one blob).

    When more than ``max_scene_change`` of the picture turns foreground at once (lights
    switched, an exposure jump, the camera knocked), nothing in it can be told from the
    background any more: the model restarts from that frame instead of taking a whole
    ``history`` to fade the change in, which would show blobs everywhere meanwhile.
    """

    def __init__(self, *, still_frames: int, max_scene_change: float = 0.7,
                 noise_area: int = 6, var_threshold: float = 16.0, warmup: int = 10) -> None:
        # A pixel's new colour becomes background once its mixture component outweighs
        # 1 - background_ratio, after about history * (1 - ratio) frames: scale the history so
        # that something still turns into background after ``still_frames``.
        history = max(2, round(still_frames / (1 - BACKGROUND_RATIO)))
        self._mog = cv2.createBackgroundSubtractorMOG2(history=history,
                                                       varThreshold=var_threshold,
                                                       detectShadows=True)
        self._mog.setBackgroundRatio(BACKGROUND_RATIO)
        self._rate = 1.0 / history
        self._max_scene_change = max_scene_change
        self._noise_area = noise_area
        self._warmup = warmup
        self.frames = 0

    @property
    def ready(self) -> bool:
        """The model has seen enough frames for its foreground to mean something."""
        return self.frames >= self._warmup

    def apply(self, image: np.ndarray) -> Foreground:
        # MOG2's automatic rate is 1 / frames seen (up to history): it learns the first picture
        # fast, but would then swallow a still person within seconds. After the warm-up the rate
        # is the history's.
        raw = self._mog.apply(image, learningRate=-1 if self.frames < self._warmup
                              else self._rate)
        self.frames += 1
        mask = np.where(raw == FOREGROUND, np.uint8(255), np.uint8(0))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _OPEN)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _CLOSE)
        fraction = float(np.count_nonzero(mask)) / mask.size
        if self.frames > 1 and fraction > self._max_scene_change:
            self._mog.apply(image, learningRate=1.0)  # 1: reinitialise from this frame
            self.frames = 1
            return Foreground(mask, (), fraction, relearnt=True)
        return Foreground(mask, blobs_of(mask, self._noise_area), fraction)


def to_pixels(points: Sequence[Point], width: int, height: int) -> np.ndarray:
    """Normalised points -> an int32 (N, 2) polygon in pixels of a ``width`` x ``height`` frame."""
    return np.array([[round(x * (width - 1)), round(y * (height - 1))] for x, y in points],
                    dtype=np.int32)


def polygon_mask(points: Sequence[Point], width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [to_pixels(points, width, height)], 255)
    return mask


def inside(polygon: np.ndarray, x: float, y: float) -> bool:
    return cv2.pointPolygonTest(polygon.reshape(-1, 1, 2), (x, y), False) >= 0


def side(a: tuple[float, float], b: tuple[float, float], x: float, y: float) -> float:
    """Negative on the left of a->b as the picture is displayed (y grows downwards), positive on
    the right, zero on the line."""
    return (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])


def segments_cross(p: tuple[float, float], q: tuple[float, float],
                   a: tuple[float, float], b: tuple[float, float]) -> bool:
    """The segment p-q crosses the segment a-b (touching an end counts)."""
    d1, d2 = side(a, b, *p), side(a, b, *q)
    d3, d4 = side(p, q, *a), side(p, q, *b)
    return d1 * d2 <= 0 and d3 * d4 <= 0 and (d1 != 0 or d2 != 0)


@dataclass(slots=True)
class Track:
    id: int
    x: float
    y: float
    area: int
    last_seen: float
    previous: tuple[float, float] | None = None


class BlobTracker:
    """Nearest-centroid association of blobs from frame to frame: enough to know where a blob
    was one analysed frame ago, which is all a line crossing needs. Not an identity tracker."""

    def __init__(self, *, max_jump: float, max_age: float) -> None:
        self.max_jump = max_jump
        self.max_age = max_age
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self.tracks.clear()

    def update(self, blobs: Sequence[Blob], at: float) -> list[Track]:
        """The tracks seen in this frame, each with ``previous`` set if it was seen before."""
        pairs = sorted(
            ((math.hypot(b.x - t.x, b.y - t.y), i, j)
             for i, b in enumerate(blobs) for j, t in enumerate(self.tracks)),
            key=lambda p: p[0])
        taken_blobs: set[int] = set()
        taken_tracks: set[int] = set()
        seen: list[Track] = []
        for distance, i, j in pairs:
            if distance > self.max_jump:
                break
            if i in taken_blobs or j in taken_tracks:
                continue
            taken_blobs.add(i)
            taken_tracks.add(j)
            track, blob = self.tracks[j], blobs[i]
            track.previous = (track.x, track.y)
            track.x, track.y, track.area, track.last_seen = blob.x, blob.y, blob.area, at
            seen.append(track)
        for i, blob in enumerate(blobs):
            if i not in taken_blobs:
                track = Track(self._next_id, blob.x, blob.y, blob.area, at)
                self._next_id += 1
                self.tracks.append(track)
                seen.append(track)
        self.tracks = [t for t in self.tracks if at - t.last_seen <= self.max_age]
        return seen
