"""Synthetic scenes drawn with numpy and OpenCV: a gate, a stairwell, a field. Each is a float
BGR base picture (drawn once, read-only: copy it to draw on it); ``render`` adds lighting gain
and sensor noise and makes a uint8 frame."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480
PERSON = (62, 46, 120)  # BGR of the people: a dark red coat, unlike any background


def _texture(rng: np.random.Generator, shape: tuple[int, int], sigma: float,
             amplitude: float) -> np.ndarray:
    noise = np.asarray(rng.normal(0, amplitude, shape), np.float32)
    return cv2.GaussianBlur(noise, (0, 0), sigma)


@functools.cache
def gate(seed: int = 1) -> np.ndarray:
    """A campus gate: sky, a building with windows, textured ground, gate posts and bars."""
    rng = np.random.default_rng(seed)
    img = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    img[:HEIGHT // 2] = np.linspace(170, 120, HEIGHT // 2)[:, None, None]
    img[HEIGHT // 2:] = (90 + _texture(rng, (HEIGHT - HEIGHT // 2, WIDTH), 3, 30))[..., None]
    cv2.rectangle(img, (40, 80), (260, 300), (110, 100, 95), -1)
    for x in range(60, 250, 40):
        for y in range(100, 280, 50):
            cv2.rectangle(img, (x, y), (x + 20, y + 30), (40, 50, 60), -1)
    cv2.rectangle(img, (330, 150), (350, 380), (60, 60, 60), -1)
    cv2.rectangle(img, (560, 150), (580, 380), (60, 60, 60), -1)
    for x in range(360, 560, 18):
        cv2.line(img, (x, 200), (x, 370), (30, 30, 30), 3)
    cv2.line(img, (350, 200), (560, 200), (30, 30, 30), 4)
    cv2.circle(img, (480, 90), 30, (200, 210, 220), -1)
    img.flags.writeable = False
    return img


@functools.cache
def stairwell(seed: int = 2) -> np.ndarray:
    """A stairwell seen from above the landing: walls, steps as bands, a handrail."""
    rng = np.random.default_rng(seed)
    img = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    img[:] = (150 + _texture(rng, (HEIGHT, WIDTH), 4, 12))[..., None]
    for i, y in enumerate(range(60, HEIGHT, 28)):
        shade = 120 if i % 2 else 170
        cv2.rectangle(img, (100, y), (540, y + 27), (shade, shade, shade - 10), -1)
        cv2.line(img, (100, y), (540, y), (70, 70, 70), 2)
    cv2.line(img, (100, 40), (100, HEIGHT), (50, 50, 50), 6)
    cv2.line(img, (540, 40), (540, HEIGHT), (50, 50, 50), 6)
    img.flags.writeable = False
    return img


@functools.cache
def field(seed: int = 3) -> np.ndarray:
    """A sports field at night-ish light: grass texture, a fence line, a light post."""
    rng = np.random.default_rng(seed)
    img = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    grass = 70 + _texture(rng, (HEIGHT, WIDTH), 2, 25)
    img[..., 0], img[..., 1], img[..., 2] = grass * 0.6, grass, grass * 0.5
    img[:120] = (60, 55, 50)
    cv2.line(img, (0, 200), (WIDTH, 200), (140, 140, 140), 3)
    for x in range(0, WIDTH, 40):
        cv2.line(img, (x, 170), (x, 200), (140, 140, 140), 2)
    cv2.rectangle(img, (600, 40), (610, 200), (120, 120, 120), -1)
    img.flags.writeable = False
    return img


def with_people(base: np.ndarray, centres: Iterable[tuple[float, float]],
                size: tuple[int, int] = (16, 34)) -> np.ndarray:
    """``base`` with an upright ellipse (a person seen from a high camera) at each centre."""
    img = base.copy()
    for x, y in centres:
        cv2.ellipse(img, (round(x), round(y)), size, 0, 0, 360, PERSON, -1)
    return img


def render(base: np.ndarray, gain: float = 1.0, noise: float = 2.0,
           rng: np.random.Generator | None = None) -> np.ndarray:
    rng = rng if rng is not None else np.random.default_rng()
    frame = base * gain + np.asarray(rng.normal(0, noise, base.shape), np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]),
                          borderMode=cv2.BORDER_REFLECT)


def grey(base: np.ndarray, size: tuple[int, int] = (320, 240), gain: float = 1.0,
         noise: float = 2.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """A grey uint8 frame of ``base`` at ``size`` with sensor noise: what an analytic sees after
    the analyser's downscale, made cheaply (noise is added at the small size)."""
    rng = rng if rng is not None else np.random.default_rng()
    picture = base if base.ndim == 2 else cv2.cvtColor(base.astype(np.float32),
                                                       cv2.COLOR_BGR2GRAY)
    small = cv2.resize(picture.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small = small * gain + np.asarray(rng.normal(0, noise, small.shape), np.float32)
    return np.clip(small, 0, 255).astype(np.uint8)


def colour(base: np.ndarray, size: tuple[int, int] = (320, 240), gain: float = 1.0,
           noise: float = 2.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """A BGR uint8 frame of ``base`` at ``size`` with sensor noise (added at the small size)."""
    rng = rng if rng is not None else np.random.default_rng()
    small = cv2.resize(base.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small = small * gain + np.asarray(rng.normal(0, noise, small.shape), np.float32)
    return np.clip(small, 0, 255).astype(np.uint8)
