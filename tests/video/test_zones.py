"""Golden tests of crowding, intrusion and line crossing on synthetic scenes, through
``SceneAnalytics`` (background model included) at 5 fps and 320x240."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from drivers.video import (
    AnalyticChange,
    CrowdingZone,
    IntrusionZone,
    LineCrossing,
    SceneAnalytics,
    TamperConfig,
    VideoAnalyticsConfig,
)
from tests.video import scenes

RATE = 5.0
NIGHT = datetime(2027, 1, 12, 2, 0, tzinfo=UTC).timestamp()
NOON = datetime(2027, 1, 12, 12, 0, tzinfo=UTC).timestamp()
PERSON_AREA = 420  # an ellipse of 8 x 17 half-axes: a scenes person at 320x240
STAIRS = [(0.16, 0.125), (0.84, 0.125), (0.84, 1.0), (0.16, 1.0)]
FIELD = [(0.0, 0.45), (1.0, 0.45), (1.0, 1.0), (0.0, 1.0)]


def after_hours(name: str, moment: datetime) -> bool:
    """The gateway's schedule check: ``after-hours`` allows 19:00-07:00 UTC."""
    return name == "after-hours" and not 7 <= moment.hour < 19


class Camera:
    def __init__(self, config: VideoAnalyticsConfig, base: np.ndarray, wall0: float = NIGHT,
                 seed: int = 0) -> None:
        self.scene = SceneAnalytics(config, after_hours)
        self.base = base
        self.t = 0.0
        self.wall0 = wall0
        self.rng = np.random.default_rng(seed)
        self.changes: list[AnalyticChange] = []

    def show(self, people: Callable[[float], list[tuple[float, float]]] | None, seconds: float,
             gain: float = 1.0) -> list[AnalyticChange]:
        new: list[AnalyticChange] = []
        for _ in range(round(seconds * RATE)):
            picture = scenes.with_people(self.base, people(self.t)) if people else self.base
            frame = scenes.colour(picture, gain=gain, rng=self.rng)
            new += self.scene.analyse(frame, self.t, self.wall0 + self.t)
            self.t += 1 / RATE
        self.changes += new
        return new


def crowd(count: int, seed: int = 5) -> Callable[[float], list[tuple[float, float]]]:
    """``count`` people walking down the stairs (640x480 coordinates), wrapping round at the
    bottom, each at their own pace, on a 5-wide grid so they rarely merge."""
    rng = np.random.default_rng(seed)
    columns = 5
    xs = [140 + (i % columns) * 88 + rng.uniform(-8, 8) for i in range(count)]
    ys = [90 + (i // columns) * 75 + rng.uniform(-10, 10) for i in range(count)]
    speeds = rng.uniform(15, 30, count)

    def at(t: float) -> list[tuple[float, float]]:
        span = 480 - 90
        return [(x + 6 * np.sin(t + i), 90 + (y - 90 + s * t) % span)
                for i, (x, y, s) in enumerate(zip(xs, ys, speeds, strict=True))]
    return at


def stairs_camera(**zone: object) -> Camera:
    config = VideoAnalyticsConfig(crowding=[CrowdingZone(id="stairs-b", points=STAIRS,
                                                         **zone)])
    cam = Camera(config, scenes.stairwell())
    assert cam.show(None, 10) == []
    return cam


@pytest.mark.parametrize("zone", [
    {"person_area": PERSON_AREA, "people": 15},
    {"occupancy": 0.12},
])
def test_crowding_raises_at_25_people_and_clears(zone: dict[str, object]) -> None:
    cam = stairs_camera(**zone)
    people = crowd(25)
    assert cam.show(people, 9) == []  # raise_after: 10 s
    raised = cam.show(people, 3)
    assert [(c.condition, c.raised, c.zone) for c in raised] == [("crowding", True, "stairs-b")]
    assert raised[0].key == "zone/stairs-b"
    if "people" in zone:
        assert 18 <= raised[0].score <= 32  # the estimate of 25
        assert "people" in raised[0].reason
    assert cam.show(people, 30) == []
    assert cam.show(crowd(3), 25) == []  # clear_after: 30 s
    cleared = cam.show(crowd(3), 10)
    assert [(c.condition, c.raised) for c in cleared] == [("crowding", False)]


@pytest.mark.parametrize("zone", [
    {"person_area": PERSON_AREA, "people": 15},
    {"occupancy": 0.12},
])
def test_crowding_does_not_raise_at_3_people(zone: dict[str, object]) -> None:
    cam = stairs_camera(**zone)
    cam.show(crowd(3), 120)
    assert cam.changes == []
    estimate = cam.scene.crowding[0]
    if estimate.people is not None:
        assert estimate.people <= 5
    assert estimate.occupancy < 0.05


def test_people_outside_the_polygon_do_not_count() -> None:
    cam = stairs_camera(person_area=PERSON_AREA, people=15)
    # the same crowd, moved onto the landing at the top, outside the zone
    walking = crowd(25)
    cam.show(lambda t: [(x, 30.0 + y % 20) for x, y in walking(t)], 30)
    assert cam.changes == []


def field_camera(wall0: float, **zone: object) -> Camera:
    config = VideoAnalyticsConfig(intrusion=[IntrusionZone(
        id="pitch", points=FIELD, schedule="after-hours", **zone)])
    cam = Camera(config, scenes.field(), wall0=wall0)
    assert cam.show(None, 10) == []
    return cam


def walker(start: tuple[float, float], velocity: tuple[float, float],
           t0: float) -> Callable[[float], list[tuple[float, float]]]:
    return lambda t: [(start[0] + velocity[0] * (t - t0), start[1] + velocity[1] * (t - t0))]


def test_intrusion_raises_when_someone_enters_the_zone_after_hours() -> None:
    cam = field_camera(NIGHT)
    # someone climbs over the fence at y=200 (zone starts at y=216) and walks onto the pitch
    person = walker((300, 150), (0, 40), cam.t)
    assert cam.show(person, 1.5) == []  # still outside the polygon
    raised = cam.show(person, 3)
    assert [(c.analytic, c.raised, c.zone) for c in raised] == [("intrusion", True, "pitch")]
    assert raised[0].score >= 150
    # they leave the picture; the zone clears clear_after (10 s) later
    assert cam.show(None, 9) == []
    cleared = cam.show(None, 2)
    assert [(c.analytic, c.raised) for c in cleared] == [("intrusion", False)]


def test_intrusion_does_not_raise_outside_the_schedule() -> None:
    cam = field_camera(NOON)
    cam.show(walker((300, 150), (0, 40), cam.t), 8)
    assert cam.changes == []


def test_intrusion_ignores_things_under_min_area() -> None:
    cam = field_camera(NIGHT, min_area=800)
    cam.show(walker((300, 150), (0, 40), cam.t), 8)
    assert cam.changes == []


def test_intrusion_clears_when_the_schedule_disarms_it() -> None:
    seven = datetime(2027, 1, 12, 6, 59, 50, tzinfo=UTC).timestamp()
    cam = field_camera(seven - 10)
    def person(t: float) -> list[tuple[float, float]]:  # loiters on the pitch
        return [(300 + 10 * float(np.sin(t)), 330.0)]

    raised = cam.show(person, 5)
    assert [c.raised for c in raised] == [True]
    cleared = cam.show(person, 10)  # 07:00 passes
    assert [c.raised for c in cleared] == [False]
    assert "schedule" in cleared[0].reason
    assert cam.show(person, 10) == []


def test_lights_switching_on_do_not_raise_intrusion() -> None:
    cam = field_camera(NIGHT)
    cam.show(None, 5, gain=1.8)  # floodlights: the whole picture changes at once
    cam.show(None, 10, gain=1.8)
    assert cam.changes == []


LINE = {"a": (0.05, 0.6), "b": (0.95, 0.6)}  # horizontal, drawn left to right


def line_camera(direction: str) -> Camera:
    config = VideoAnalyticsConfig(lines=[LineCrossing(
        id="fence-line", direction=direction, **LINE)])
    cam = Camera(config, scenes.field())
    assert cam.show(None, 10) == []
    return cam


@pytest.mark.parametrize("direction, downwards_raises, upwards_raises", [
    ("any", True, True),
    ("left_to_right", True, False),  # left of a->b is the upper side: downwards is l-to-r
    ("right_to_left", False, True),
])
def test_line_crossing_direction(direction: str, downwards_raises: bool,
                                 upwards_raises: bool) -> None:
    cam = line_camera(direction)
    down = cam.show(walker((320, 200), (0, 60), cam.t), 4)  # y 200 -> 440 crosses y=287
    assert [(c.condition, c.raised) for c in down] == (
        [("line_crossing", True)] if downwards_raises else [])
    cam.show(None, 12)  # clears
    up = cam.show(walker((200, 440), (0, -60), cam.t), 4)
    assert [(c.condition, c.raised) for c in up if c.raised] == (
        [("line_crossing", True)] if upwards_raises else [])
    if downwards_raises:
        assert "left to right" in down[0].reason


def test_line_crossing_clears_after_quiet_time_and_counts() -> None:
    cam = line_camera("any")
    cam.show(walker((320, 200), (0, 60), cam.t), 4)
    cam.show(walker((100, 440), (0, -60), cam.t), 4)
    cleared = cam.show(None, 12)
    assert [(c.raised, c.score) for c in cleared] == [(False, 2.0)]


def test_walking_along_the_line_is_not_a_crossing() -> None:
    cam = line_camera("any")
    cam.show(walker((20, 250), (60, 0), cam.t), 8)  # parallel, above it
    assert cam.changes == []


def test_tamper_and_zones_together() -> None:
    config = VideoAnalyticsConfig(
        tamper=TamperConfig(),
        intrusion=[IntrusionZone(id="pitch", points=FIELD)])
    cam = Camera(config, scenes.field())
    cam.show(None, 10)
    covered = np.full_like(scenes.field(), 20)
    cam.base = covered
    changes = cam.show(None, 15)
    # the cover raises tamper; the foreground it causes raises no intrusion
    assert [(c.analytic, c.condition, c.raised) for c in changes] == [
        ("tamper", "covered", True)]



def test_a_crowd_on_the_simulated_stairs_is_crowding_not_a_moved_camera() -> None:
    """The camera simulator's own stairwell, 25 people: the crowd hides the reference's
    texture, which once raised "moved" beside the crowding."""
    from simulators.onvif.scene import SceneRenderer, SceneState, seed_of, view_left

    seed = seed_of("stairwell-cam")
    scene = SceneState("stairwell", view_left(0.0) + 0.5, seed)
    renderer = SceneRenderer("stairwell", 640, 480, scene.home_x, seed)
    analytics = SceneAnalytics(VideoAnalyticsConfig(
        rate=5, background=5, tamper=TamperConfig(min_duration=1, clear_after=1, learn=1),
        crowding=[CrowdingZone(id="stairs", points=[(0.15, 0.45), (0.85, 0.45), (0.85, 1.0),
                                                    (0.15, 1.0)],
                               occupancy=0.15, raise_after=1, clear_after=2)]))
    changes = []
    for n in range(5 * 40):  # 40 s at 5 frames a second
        now = n / 5
        if n == 5 * 15:
            scene.crowd(25, now)
        image = renderer.render(scene.snapshot(now, 0.0, "stairwell-cam 2026-12-02 08:00:00"))
        changes += analytics.analyse(np.asarray(image), now, 1_780_000_000 + now)
    assert [(c.condition, c.raised) for c in changes] == [("crowding", True)]
