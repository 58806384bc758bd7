"""Camera tamper: covered, blinded, defocused or moved, against a reference view the detector
learns itself. Pure: numpy frames and their timestamps in, state changes out.

Every figure is chosen to be indifferent to how bright the scene is, so that dusk, clouds and
lights do not look like tamper:

* covered: grey-level standard deviation of the whole view (a covered, sprayed or pitch-dark
  lens gives a flat picture at any brightness);
* blinded: share of saturated pixels (a torch or laser into the lens);
* defocused: sharpness = std of the Laplacian / std of the image (contrast cancels out), as a
  ratio to the reference's sharpness;
* moved: the view is cut into a 4 x 4 grid; each textured cell's gradient-magnitude map is
  correlated with the reference's (normalised, so brightness cancels out) and the *median* is
  taken: a person in front of a few cells does not move it, a shifted or turned camera changes
  every cell.

Only one of the four is judged per frame, in that order (blinded before covered: a saturated
picture is also flat), because the later figures mean nothing on an obscured picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from drivers.video.frames import AnalyticChange, Hold
from drivers.video.models import TamperCondition, TamperConfig

WIDTH = 160  # the detector's own resolution: enough for these statistics, cheap at any rate
GRID = 4
SATURATED = 250
MIN_CELL_TEXTURE = 3.0  # gradient std under which a reference cell is too flat to compare
MIN_CELLS = 4


@dataclass(frozen=True, slots=True)
class TamperFigures:
    """What one frame showed (for diagnosis and tuning; ``None`` before a reference exists)."""

    contrast: float
    saturated: float
    sharpness: float
    sharpness_ratio: float | None
    similarity: float | None
    change: float | None


def _small(gray: np.ndarray) -> np.ndarray:
    height = max(1, round(gray.shape[0] * WIDTH / gray.shape[1]))
    return cv2.resize(gray, (WIDTH, height), interpolation=cv2.INTER_AREA).astype(np.float32)


def _sharpness(small: np.ndarray, contrast: float) -> float:
    return float(cv2.Laplacian(small, cv2.CV_32F).std()) / max(contrast, 1e-3)


def _gradient(small: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1)
    return cv2.GaussianBlur(cv2.magnitude(gx, gy), (0, 0), 1.5)


def _cells(image: np.ndarray) -> list[np.ndarray]:
    h, w = image.shape
    return [image[i * h // GRID:(i + 1) * h // GRID, j * w // GRID:(j + 1) * w // GRID]
            for i in range(GRID) for j in range(GRID)]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 1e-6 else 0.0


class _Reference:
    """The learnt view: a running average of stable frames and what is derived from it."""

    def __init__(self, small: np.ndarray) -> None:
        self.image = small.copy()
        self._derive()

    def follow(self, small: np.ndarray, weight: float) -> None:
        cv2.accumulateWeighted(small, self.image, min(1.0, weight))
        self._derive()

    def _derive(self) -> None:
        contrast = float(self.image.std())
        self.sharpness = _sharpness(self.image, contrast)
        self.cells = _cells(_gradient(self.image))
        self.textured = [i for i, c in enumerate(self.cells) if float(c.std()) >= MIN_CELL_TEXTURE]

    def similarity(self, small: np.ndarray) -> float | None:
        if len(self.textured) < MIN_CELLS:
            return None  # a featureless scene: a move cannot be seen
        current = _cells(_gradient(small))
        return float(np.median([_correlation(self.cells[i], current[i]) for i in self.textured]))


class TamperDetector:
    """Feed it every analysed frame (grey, any size) with its timestamps.

    ``at`` is a monotonic time in seconds (durations), ``wall`` the frame's wall-clock time
    (reported in the changes). Until a reference is learnt only covered and blinded are judged.
    """

    def __init__(self, config: TamperConfig) -> None:
        self.config = config
        self._holds: dict[TamperCondition, Hold] = {
            c: Hold(config.min_duration, config.clear_after) for c in config.detect}
        self._reference: _Reference | None = None
        self._previous: np.ndarray | None = None
        self._previous_at: float | None = None
        self._learning: np.ndarray | None = None
        self._learning_since: float | None = None
        self.figures: TamperFigures | None = None

    @property
    def learnt(self) -> bool:
        return self._reference is not None

    @property
    def active(self) -> set[TamperCondition]:
        return {c for c, hold in self._holds.items() if hold.active}

    @property
    def disturbed(self) -> bool:
        """A condition is raised or about to be: the picture cannot be trusted for other
        analytics."""
        return any(hold.active or hold.pending for hold in self._holds.values())

    def relearn(self) -> None:
        """Forget the reference (after an accepted new view); conditions raised on it clear
        with the next frames that are not obscured."""
        self._reference = None
        self._learning = self._learning_since = None

    def update(self, gray: np.ndarray, at: float, wall: float,
               occluded: bool = False) -> list[AnalyticChange]:
        """``occluded``: people fill the view (a crowd is raised): the view cannot be compared
        with the reference, so "moved" neither raises nor clears meanwhile."""
        cfg = self.config
        small = _small(gray)
        contrast = float(small.std())
        saturated = float(np.count_nonzero(small >= SATURATED)) / small.size
        sharpness = _sharpness(small, contrast)
        change = (float(np.abs(small - self._previous).mean())
                  if self._previous is not None else None)
        dt = at - self._previous_at if self._previous_at is not None else 0.0
        self._previous, self._previous_at = small, at
        stable = change is not None and change < cfg.stable_change

        ref = self._reference
        ratio = sharpness / ref.sharpness if ref is not None and ref.sharpness > 0 else None
        blinded = saturated >= cfg.blinded_fraction
        covered = not blinded and contrast < cfg.covered_contrast
        obscured = blinded or covered or saturated > cfg.blinded_clear \
            or contrast < cfg.covered_clear
        defocused = (not obscured and ratio is not None and ratio < cfg.defocused_ratio)
        similarity = ref.similarity(small) if ref is not None and not obscured else None
        moved = (not obscured and not defocused and similarity is not None and not occluded
                 and similarity < cfg.moved_similarity)
        self.figures = TamperFigures(contrast, saturated, sharpness, ratio, similarity, change)

        verdicts: dict[TamperCondition, tuple[bool, bool, float, str]] = {
            "blinded": (blinded, saturated < cfg.blinded_clear, saturated,
                        f"{saturated:.0%} of the picture saturated (raises at "
                        f"{cfg.blinded_fraction:.0%}, clears under {cfg.blinded_clear:.0%})"),
            "covered": (covered, contrast > cfg.covered_clear, contrast,
                        f"picture flat: grey-level contrast {contrast:.1f} (raises under "
                        f"{cfg.covered_contrast:g}, clears over {cfg.covered_clear:g})"),
            "defocused": (defocused, ratio is not None and not obscured
                          and ratio > cfg.defocused_clear, ratio if ratio is not None else 0.0,
                          f"sharpness {ratio or 0:.0%} of the reference (raises under "
                          f"{cfg.defocused_ratio:.0%}, clears over {cfg.defocused_clear:.0%})"),
            "moved": (moved, similarity is not None and not obscured and not defocused
                      and not occluded and similarity > cfg.moved_clear,
                      similarity if similarity is not None else 0.0,
                      f"view similarity with the reference {similarity or 0:.2f} (raises "
                      f"under {cfg.moved_similarity:g}, clears over {cfg.moved_clear:g})"),
        }
        changes: list[AnalyticChange] = []
        for condition, hold in self._holds.items():
            tripped, clear, score, reason = verdicts[condition]
            outcome = hold.update(at, tripped, clear)
            if outcome is not None:
                changes.append(AnalyticChange("tamper", condition, outcome, reason, score, wall))

        self._learn(small, at, dt, stable and not obscured and not self.disturbed)
        return changes

    def _learn(self, small: np.ndarray, at: float, dt: float, usable: bool) -> None:
        cfg = self.config
        if self._reference is not None:
            if usable:
                self._reference.follow(small, dt / cfg.relearn)
            return
        if not usable:
            self._learning = self._learning_since = None
            return
        if self._learning is None or self._learning_since is None:
            self._learning, self._learning_since = small.copy(), at
            return
        cv2.accumulateWeighted(small, self._learning, 0.2)
        if at - self._learning_since >= cfg.learn:
            self._reference = _Reference(self._learning)
            self._learning = self._learning_since = None
