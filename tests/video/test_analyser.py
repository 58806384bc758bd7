"""The analyser's worker thread: the newest frame at the configured rate, each frame once,
changes handed to the asyncio loop; and the whole chain from an MJPEG camera."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from drivers.video import (
    AnalyticChange,
    Frame,
    FrameGrabber,
    GrabberConfig,
    SceneAnalytics,
    TamperConfig,
    VideoAnalyser,
    VideoAnalyticsConfig,
)
from drivers.video.analyser import analysis_size
from tests.video import scenes
from tests.video.mjpeg_server import MjpegCamera

QUICK_TAMPER = TamperConfig(min_duration=0.4, clear_after=0.4, learn=0.4)


def test_analysis_size_keeps_the_aspect_ratio() -> None:
    assert analysis_size(640, 480, 320) == (320, 240)
    assert analysis_size(1920, 1080, 320) == (320, 180)
    assert analysis_size(160, 120, 320) == (160, 120)  # never upscaled


def test_schedules_are_required_when_zones_name_them() -> None:
    config = VideoAnalyticsConfig.model_validate({"intrusion": [
        {"id": "yard", "points": [[0, 0], [1, 0], [1, 1]], "schedule": "after-hours"}]})
    assert config.schedules() == {"after-hours"}
    with pytest.raises(ValueError, match="after-hours"):
        SceneAnalytics(config)


def test_config_rejects_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="person_area"):
        VideoAnalyticsConfig.model_validate({"crowding": [
            {"id": "s", "points": [[0, 0], [1, 0], [1, 1]], "people": 10}]})
    with pytest.raises(ValueError, match="used twice"):
        VideoAnalyticsConfig.model_validate({
            "crowding": [{"id": "s", "points": [[0, 0], [1, 0], [1, 1]]}],
            "intrusion": [{"id": "s", "points": [[0, 0], [1, 0], [1, 1]]}]})
    with pytest.raises(ValueError):
        VideoAnalyticsConfig.model_validate({"lines": [{"id": "l", "a": [0, 0], "b": [1.5, 0]}]})
    with pytest.raises(ValueError, match=r"[Ee]xtra"):
        VideoAnalyticsConfig.model_validate({"tamper": {"sensitivity": 3}})
    assert VideoAnalyticsConfig.model_validate(
        {"tamper": {"min_duration": "15s"}}).tamper == TamperConfig(min_duration=15)


class Source:
    """A frame source that shows the same frame until told to move on."""

    def __init__(self) -> None:
        self.frame: Frame | None = None
        self.calls = 0

    def __call__(self) -> Frame | None:
        self.calls += 1
        return self.frame

    def show(self, image: np.ndarray, sequence: int) -> None:
        image.flags.writeable = False
        self.frame = Frame(image, time.time(), time.monotonic(), sequence)


def test_each_frame_is_analysed_once_and_changes_reach_the_loop() -> None:
    async def scenario() -> tuple[list[AnalyticChange], set[int], VideoAnalyser]:
        loop = asyncio.get_running_loop()
        source = Source()
        got: list[AnalyticChange] = []
        threads: set[int] = set()
        raised = asyncio.Event()

        def on_change(change: AnalyticChange) -> None:
            threads.add(threading.get_ident())
            got.append(change)
            raised.set()

        analyser = VideoAnalyser("gate", VideoAnalyticsConfig(rate=20, tamper=QUICK_TAMPER),
                                 source, on_change, loop=loop)
        analyser.start()
        try:
            source.show(scenes.render(scenes.gate()), 1)
            await asyncio.sleep(0.5)  # ~10 ticks on one frame
            assert analyser.stats().analysed == 1
            assert analyser.stats().skipped >= 3
            sequence = 1
            deadline = loop.time() + 20
            while not analyser.scene.tamper.learnt and loop.time() < deadline:  # type: ignore[union-attr]
                sequence += 1
                source.show(scenes.render(scenes.gate()), sequence)
                await asyncio.sleep(0.06)
            covered = np.full((480, 640, 3), 20, np.uint8)
            while not raised.is_set() and loop.time() < deadline:
                sequence += 1
                source.show(covered.copy(), sequence)
                await asyncio.sleep(0.06)
        finally:
            analyser.stop()
        return got, threads, analyser

    got, threads, analyser = asyncio.run(scenario())
    assert [(c.condition, c.raised) for c in got] == [("covered", True)]
    assert threads == {threading.get_ident()}
    stats = analyser.stats()
    assert stats.errors == 0 and stats.cpu_seconds > 0


def test_from_an_mjpeg_camera_to_a_tamper_alarm() -> None:
    rng = np.random.default_rng(0)
    gate = scenes.gate()
    camera = MjpegCamera(fps=15, picture=lambda _n: scenes.render(gate, rng=rng)).start()
    changes: list[AnalyticChange] = []
    done = threading.Event()

    def on_change(change: AnalyticChange) -> None:
        changes.append(change)
        if not change.raised:
            done.set()

    grabber = FrameGrabber("gate", camera.url, GrabberConfig(backoff_initial=0.05))
    analyser = VideoAnalyser("gate", VideoAnalyticsConfig(rate=10, tamper=QUICK_TAMPER),
                             grabber.latest, on_change)
    grabber.start()
    analyser.start()
    try:
        assert grabber.wait_frame(timeout=10) is not None
        deadline = time.monotonic() + 20
        while not analyser.scene.tamper.learnt and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        camera.picture = lambda _n: np.full((480, 640, 3), 15, np.uint8)  # a cap on the lens
        while not changes and time.monotonic() < deadline:
            time.sleep(0.05)
        camera.picture = lambda _n: scenes.render(gate, rng=rng)
        done.wait(max(0.0, deadline - time.monotonic()))
    finally:
        analyser.stop()
        grabber.stop()
        camera.stop()
    assert [(c.condition, c.raised) for c in changes] == [("covered", True), ("covered", False)]
