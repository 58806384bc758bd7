"""A synthetic camera picture: a panorama per scene kind, people in it, and what can happen to
the lens, drawn with numpy and OpenCV.

The world is ``PANORAMA`` views wide; ``x`` runs along it (a view is one unit wide) and ``y`` is
depth on the ground (0 the horizon, 1 the bottom of the picture). The head's pan picks the view.
The analytics rules live at the home view (the first preset): a tripwire at ``home_x`` and a
field zone around it, so ``cross`` and ``crowd`` happen where the rules look.

``SceneState`` is the mutable truth the camera's actions change; ``snapshot`` freezes it into a
``FrameSpec`` that ``SceneRenderer.render`` draws in a worker thread.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from simulators.onvif.config import SceneKind

PANORAMA = 3.0
HORIZON = {"gate": 0.42, "stairwell": 0.30, "field": 0.38}
Frame = npt.NDArray[np.uint8]
SHIRTS = [(40, 40, 200), (200, 80, 30), (30, 150, 30), (20, 20, 20), (200, 200, 200),
          (0, 140, 255), (130, 0, 130), (160, 120, 60), (60, 60, 140), (0, 200, 200)]


@dataclass(frozen=True)
class Person:
    pid: int
    shirt: tuple[int, int, int]
    x0: float
    y0: float
    x1: float
    y1: float
    start: float
    duration: float  # 0: stands (and shifts a little); >0: walks x0,y0 -> x1,y1 then leaves
    wander: float = 0.0  # radius of milling about (a crowd), in world units

    def at(self, now: float) -> tuple[float, float, bool]:
        """Position and whether the person is moving at ``now`` (monotonic seconds)."""
        if self.duration > 0:
            share = min(1.0, max(0.0, (now - self.start) / self.duration))
            return (self.x0 + (self.x1 - self.x0) * share,
                    self.y0 + (self.y1 - self.y0) * share, 0.0 < share < 1.0)
        if self.wander > 0:
            t = now - self.start + self.pid * 1.7
            return (self.x0 + self.wander * math.sin(t * 0.7 + self.pid),
                    self.y0 + self.wander * 0.5 * math.sin(t * 0.5 + 2 * self.pid), True)
        return self.x0, self.y0, False

    def gone(self, now: float) -> bool:
        return self.duration > 0 and now >= self.start + self.duration


@dataclass(frozen=True)
class FrameSpec:
    """Everything one frame shows, frozen so a worker thread can draw it."""

    now: float
    pan: float
    people: tuple[Person, ...]
    covered: bool
    blinded: bool
    defocused: bool
    overlay: str


@dataclass
class SceneState:
    kind: SceneKind
    home_x: float
    seed: int
    people: list[Person] = field(default_factory=list)
    covered: bool = False
    blinded: bool = False
    defocused: bool = False
    crossings: int = 0
    _ids: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    # --- what the actions do -----------------------------------------------------------------

    def _person(self, x0: float, y0: float, x1: float, y1: float, start: float,
                duration: float, wander: float = 0.0) -> Person:
        self._ids += 1
        shirt = SHIRTS[self._random.randrange(len(SHIRTS))]
        return Person(self._ids, shirt, x0, y0, x1, y1, start, duration, wander)

    def set_people(self, count: int, view_x: float, now: float) -> None:
        """``count`` people standing about in the current view (the others leave)."""
        self.people = [p for p in self.people if p.duration > 0]
        for _ in range(count):
            x = view_x + self._random.uniform(0.08, 0.92)
            y = self._random.uniform(0.35, 0.95)
            self.people.append(self._person(x, y, x, y, now, 0.0))

    def walk(self, view_x: float, now: float, seconds: float) -> Person:
        """Someone walks through the current view, left to right or back."""
        y = self._random.uniform(0.45, 0.9)
        left, right = view_x - 0.1, view_x + 1.1
        start, end = (left, right) if self._random.random() < 0.5 else (right, left)
        person = self._person(start, y, end, y + self._random.uniform(-0.1, 0.1), now, seconds)
        self.people.append(person)
        return person

    def cross(self, now: float, seconds: float) -> Person:
        """Someone crossing the tripwire right now: halfway along a walk over the line."""
        y = self._random.uniform(0.55, 0.85)
        start = now - seconds / 2
        person = self._person(self.home_x - 0.45, y, self.home_x + 0.45, y, start, seconds)
        self.people.append(person)
        self.crossings += 1
        return person

    def crowd(self, count: int, now: float) -> None:
        """``count`` people milling about in the field zone (replacing any crowd there)."""
        self.people = [p for p in self.people if p.wander == 0]
        for _ in range(count):
            x = self.home_x + self._random.uniform(-0.25, 0.25)
            y = self._random.uniform(0.45, 0.9)
            self.people.append(self._person(x, y, x, y, now, 0.0, wander=0.04))

    def clear(self) -> None:
        self.people = []

    # --- what the analytics see --------------------------------------------------------------

    def tidy(self, now: float) -> None:
        self.people = [p for p in self.people if not p.gone(now)]

    def moving(self, now: float) -> bool:
        return any(p.at(now)[2] for p in self.people)

    def inside_zone(self, now: float) -> int:
        count = 0
        for person in self.people:
            x, y, _ = person.at(now)
            if abs(x - self.home_x) <= 0.3 and 0.35 <= y <= 1.0:
                count += 1
        return count

    def visible(self, now: float, view_x: float) -> int:
        return sum(1 for p in self.people if view_x - 0.02 <= p.at(now)[0] <= view_x + 1.02)

    def snapshot(self, now: float, pan: float, overlay: str) -> FrameSpec:
        return FrameSpec(now, pan, tuple(self.people), self.covered, self.blinded,
                         self.defocused, overlay)

    def view(self, now: float, view_x: float) -> dict[str, object]:
        return {"kind": self.kind, "people": len(self.people),
                "people_in_view": self.visible(now, view_x),
                "people_in_zone": self.inside_zone(now), "moving": self.moving(now),
                "covered": self.covered, "blinded": self.blinded,
                "defocused": self.defocused, "crossings": self.crossings}


def view_left(pan: float) -> float:
    """The world x of the left edge of the view the head points at (pan -1..1)."""
    return (max(-1.0, min(1.0, pan)) + 1) / 2 * (PANORAMA - 1)


def seed_of(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


class SceneRenderer:
    """Draws frames of one camera at one size; the panorama is drawn once."""

    def __init__(self, kind: SceneKind, width: int, height: int, home_x: float,
                 seed: int) -> None:
        self.kind = kind
        self.width = width
        self.height = height
        self.home_x = home_x
        self.horizon = int(HORIZON[kind] * height)
        rng = np.random.default_rng(seed)
        self.panorama = _PAINTERS[kind](self, rng)
        self._noise = [rng.integers(-6, 7, size=(height, width, 1), dtype=np.int16)
                       for _ in range(4)]
        self._frame_no = 0

    def ground_y(self, depth: float) -> int:
        return int(self.horizon + (self.height - self.horizon) * depth)

    def px(self, world_x: float) -> int:
        return int(world_x * self.width)

    def render(self, spec: FrameSpec) -> Frame:
        left = view_left(spec.pan)
        offset = min(self.panorama.shape[1] - self.width, max(0, self.px(left)))
        frame = self.panorama[:, offset:offset + self.width].copy()
        people = sorted(spec.people, key=lambda p: p.at(spec.now)[1])
        for person in people:
            x, y, moving = person.at(spec.now)
            self._draw_person(frame, self.px(x) - offset, y, person, moving, spec.now)
        frame = self._lens(frame, spec)
        self._frame_no += 1
        noise = self._noise[self._frame_no % len(self._noise)]
        frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        _osd(frame, spec.overlay)
        return frame

    def _draw_person(self, frame: Frame, sx: int, depth: float, person: Person,
                     moving: bool, now: float) -> None:
        height = int(self.height * (0.10 + 0.36 * depth))
        if sx < -height or sx > self.width + height:
            return
        feet = self.ground_y(depth)
        width = max(3, height // 4)
        head = max(2, height // 8)
        swing = int(math.sin(now * 7 + person.pid) * width * 0.6) if moving else 0
        hip = feet - int(height * 0.45)
        legs = (40, 40, 60)
        thickness = max(1, width // 3)
        cv2.line(frame, (sx, hip), (sx - swing, feet), legs, thickness, cv2.LINE_AA)
        cv2.line(frame, (sx, hip), (sx + swing, feet), legs, thickness, cv2.LINE_AA)
        shoulders = feet - int(height * 0.82)
        cv2.rectangle(frame, (sx - width // 2, shoulders), (sx + width // 2, hip),
                      person.shirt, -1, cv2.LINE_AA)
        cv2.line(frame, (sx - width // 2, shoulders + 2), (sx - width // 2 - swing // 2, hip),
                 person.shirt, max(1, thickness - 1), cv2.LINE_AA)
        cv2.line(frame, (sx + width // 2, shoulders + 2), (sx + width // 2 + swing // 2, hip),
                 person.shirt, max(1, thickness - 1), cv2.LINE_AA)
        cv2.circle(frame, (sx, shoulders - head), head, (140, 170, 210), -1, cv2.LINE_AA)
        shadow_w = max(2, width)
        cv2.ellipse(frame, (sx, feet), (shadow_w, max(1, shadow_w // 4)), 0, 0, 360,
                    (50, 50, 50), -1, cv2.LINE_AA)

    def _lens(self, frame: Frame, spec: FrameSpec) -> Frame:
        if spec.defocused:
            frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), sigmaX=max(4.0, self.width / 60)),
                               dtype=np.uint8)
        if spec.blinded:
            glare = np.full_like(frame, 250)
            frame = np.asarray(cv2.addWeighted(frame, 0.08, glare, 0.92, 0), dtype=np.uint8)
            cv2.circle(frame, (self.width // 2, self.height // 2), self.height // 3,
                       (255, 255, 255), -1, cv2.LINE_AA)
        if spec.covered:
            frame = (frame.astype(np.uint16) * 3 // 100).astype(np.uint8)
            frame[:, :, 2] = np.minimum(255, frame[:, :, 2].astype(np.uint16) + 6)
        return frame


def _osd(frame: Frame, text: str) -> None:
    scale = max(0.35, frame.shape[1] / 1400)
    for n, line in enumerate(text.splitlines()):
        y = int(18 * scale * 2.2 * (n + 1))
        cv2.putText(frame, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3,
                    cv2.LINE_AA)
        cv2.putText(frame, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)


# --- the panoramas -------------------------------------------------------------------------------

def _canvas(renderer: SceneRenderer) -> Frame:
    return np.zeros((renderer.height, int(renderer.width * PANORAMA), 3), np.uint8)


def _sky(image: Frame, horizon: int, top: tuple[int, int, int],
         bottom: tuple[int, int, int]) -> None:
    for row in range(horizon):
        share = row / max(1, horizon - 1)
        image[row] = [int(t + (b - t) * share) for t, b in zip(top, bottom, strict=True)]


def _buildings(image: Frame, renderer: SceneRenderer, rng: np.random.Generator, x0: int,
               x1: int, base: int) -> None:
    x = x0
    while x < x1:
        width = int(rng.integers(renderer.width // 12, renderer.width // 5))
        height = int(rng.integers(renderer.height // 8, renderer.height // 3))
        shade = int(rng.integers(90, 170))
        color = (shade, shade - 10, shade - 25)
        cv2.rectangle(image, (x, base - height), (x + width, base), color, -1)
        step = max(6, renderer.width // 40)
        for wy in range(base - height + step // 2, base - step, step):
            for wx in range(x + step // 2, x + width - step // 2, step):
                lit = rng.random() < 0.3
                cv2.rectangle(image, (wx, wy), (wx + step // 3, wy + step // 2),
                              (120, 200, 230) if lit else (70, 60, 50), -1)
        x += width + int(rng.integers(2, renderer.width // 30 + 3))


def _paint_gate(renderer: SceneRenderer, rng: np.random.Generator) -> Frame:
    image = _canvas(renderer)
    w, h, horizon = renderer.width, renderer.height, renderer.horizon
    _sky(image, horizon, (200, 150, 90), (235, 215, 190))
    _buildings(image, renderer, rng, 0, image.shape[1], horizon)
    image[horizon:] = (70, 120, 80)  # verges
    line = renderer.px(renderer.home_x)
    road = np.array([[0, renderer.ground_y(0.25)], [image.shape[1], renderer.ground_y(0.25)],
                     [image.shape[1], renderer.ground_y(0.75)], [0, renderer.ground_y(0.75)]])
    cv2.fillPoly(image, [road], (95, 95, 100))
    for x in range(0, image.shape[1], w // 8):
        cv2.line(image, (x, renderer.ground_y(0.5)), (x + w // 16, renderer.ground_y(0.5)),
                 (230, 230, 230), max(1, h // 120))
    cv2.rectangle(image, (0, renderer.ground_y(0.75)), (image.shape[1], h), (150, 150, 145), -1)
    # the gate house beside the barrier, and the painted stop line the tripwire follows
    house = (line - w // 4, renderer.ground_y(0.1) - h // 4, line - w // 12,
             renderer.ground_y(0.3))
    cv2.rectangle(image, house[:2], house[2:], (180, 190, 200), -1)
    cv2.rectangle(image, (house[0] + 8, house[1] + 10), (house[2] - 8, house[1] + h // 10),
                  (120, 90, 60), -1)
    cv2.rectangle(image, (house[0] - 6, house[1] - 12), (house[2] + 6, house[1]),
                  (60, 60, 150), -1)
    cv2.line(image, (line, renderer.ground_y(0.25)), (line, renderer.ground_y(0.75)),
             (240, 240, 240), max(2, h // 60))
    post = (line - 6, renderer.ground_y(0.25))
    cv2.rectangle(image, (post[0] - 4, post[1] - h // 8), (post[0] + 4, post[1]),
                  (60, 60, 60), -1)
    arm_y = post[1] - h // 10
    segments = 10
    for n in range(segments):
        x0 = post[0] + n * (w // 2) // segments
        color = (40, 40, 210) if n % 2 == 0 else (245, 245, 245)
        cv2.line(image, (x0, arm_y), (x0 + (w // 2) // segments, arm_y), color, max(2, h // 80))
    for x in range(w // 10, image.shape[1], w // 3):  # street lamps
        cv2.line(image, (x, renderer.ground_y(0.2)), (x, horizon - h // 6), (50, 50, 50), 2)
        cv2.circle(image, (x, horizon - h // 6), 4, (180, 240, 255), -1)
    return image


def _paint_stairwell(renderer: SceneRenderer, rng: np.random.Generator) -> Frame:
    image = _canvas(renderer)
    w, h, horizon = renderer.width, renderer.height, renderer.horizon
    image[:] = (150, 170, 185)
    image[:horizon] = (170, 190, 205)
    for x in range(0, image.shape[1], w // 2):  # ceiling lights
        cv2.ellipse(image, (x + w // 4, horizon // 3), (w // 14, h // 40), 0, 0, 360,
                    (235, 250, 255), -1)
    steps = 12
    for n in range(steps):
        y0 = renderer.ground_y(n / steps)
        y1 = renderer.ground_y((n + 1) / steps)
        shade = 105 + (n % 2) * 25 + n * 3
        cv2.rectangle(image, (0, y0), (image.shape[1], y1), (shade, shade, shade + 5), -1)
        cv2.line(image, (0, y1), (image.shape[1], y1), (60, 60, 70), max(1, h // 200))
    for x in range(0, image.shape[1], w // 3):  # handrail posts
        cv2.line(image, (x, renderer.ground_y(0.05)), (x, renderer.ground_y(0.05) - h // 6),
                 (40, 40, 40), 2)
    cv2.line(image, (0, renderer.ground_y(0.05) - h // 6),
             (image.shape[1], renderer.ground_y(0.05) - h // 6), (30, 30, 30), 3)
    for x in (w // 3, int(w * 1.6), int(w * 2.5)):  # doors and an exit sign
        cv2.rectangle(image, (x, horizon - h // 5), (x + w // 8, horizon + h // 20),
                      (70, 100, 140), -1)
        cv2.rectangle(image, (x + w // 40, horizon - h // 5 - h // 20),
                      (x + w // 10, horizon - h // 5 - 4), (40, 160, 40), -1)
    image = (image.astype(np.float32) * 0.75).astype(np.uint8)  # a stairwell is dim
    return image


def _paint_field(renderer: SceneRenderer, rng: np.random.Generator) -> Frame:
    image = _canvas(renderer)
    w, h, horizon = renderer.width, renderer.height, renderer.horizon
    _sky(image, horizon, (210, 160, 100), (240, 225, 205))
    for x in range(0, image.shape[1], max(4, w // 30)):  # trees behind the field
        top = horizon - int(rng.integers(h // 14, h // 6))
        cv2.ellipse(image, (x, horizon), (w // 40 + 4, horizon - top), 0, 180, 360,
                    (40, int(rng.integers(90, 130)), 40), -1)
    for n in range(8):
        y0, y1 = renderer.ground_y(n / 8), renderer.ground_y((n + 1) / 8)
        green = 120 if n % 2 else 140
        cv2.rectangle(image, (0, y0), (image.shape[1], y1), (50, green, 60), -1)
    cv2.rectangle(image, (0, renderer.ground_y(0.02)), (image.shape[1], renderer.ground_y(0.1)),
                  (60, 80, 170), -1)  # running track
    for lane in (0.04, 0.07):
        cv2.line(image, (0, renderer.ground_y(lane)), (image.shape[1], renderer.ground_y(lane)),
                 (230, 230, 230), 1)
    center = renderer.px(renderer.home_x)
    cv2.line(image, (center, renderer.ground_y(0.12)), (center, h), (240, 240, 240), 2)
    cv2.ellipse(image, (center, renderer.ground_y(0.6)), (w // 6, h // 12), 0, 0, 360,
                (240, 240, 240), 2)
    for goal in (center - int(w * 0.9), center + int(w * 0.9)):
        cv2.rectangle(image, (goal - w // 20, renderer.ground_y(0.4) - h // 10),
                      (goal + w // 20, renderer.ground_y(0.4)), (250, 250, 250), 2)
    return image


_PAINTERS = {"gate": _paint_gate, "stairwell": _paint_stairwell, "field": _paint_field}

