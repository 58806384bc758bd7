"""Video analytics cost: analysed frames per second and CPU per camera, for 1 and 8 cameras.

Frames are synthetic 640x480 BGR pictures of a stairwell with people walking (drawn once before
the run and cycled, so drawing costs nothing during it), analysed at 320 pixels wide
(320x240) by ``drivers.video`` exactly as a camera driver runs it:

1. per-frame cost: ``SceneAnalytics.analyse`` in a loop on one thread, unpaced, for tamper only,
   crowding only, intrusion + line only, and everything together: ms per frame and the most
   frames per second one core can analyse. Beside it, what grabbing and keeping frames cost
   per frame (JPEG decode of a 640x480 MJPEG frame, JPEG encode for the clip ring).
2. paced: one ``VideoAnalyser`` thread per camera at ``--rate`` fps (default 5) with every
   analytic enabled, each fed by its own thread that publishes a new frame at ``--stream-fps``
   (like a grabber), for ``--seconds``; with 1 and with 8 cameras (``--cameras``). Per camera:
   frames analysed per second, the analyser thread's own CPU time (``time.thread_time``) as % of
   one core, ms per frame; then the whole process's CPU and how busy the machine was.

Prints figures only; it never fails on a timing.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence

import cv2
import numpy as np
from benchlib import CpuWindow, MachineWindow, check_quiet, machine

from drivers.video import (
    CrowdingZone,
    Frame,
    IntrusionZone,
    LineCrossing,
    SceneAnalytics,
    TamperConfig,
    VideoAnalyser,
    VideoAnalyticsConfig,
)

WIDTH, HEIGHT = 640, 480
STAIRS = [(0.16, 0.125), (0.84, 0.125), (0.84, 1.0), (0.16, 1.0)]


def stairwell_frames(count: int, people: int, seed: int = 1) -> list[np.ndarray]:
    """``count`` frames of a stairwell with ``people`` ellipses walking down, sensor noise."""
    rng = np.random.default_rng(seed)
    base = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    base[:] = 150 + cv2.GaussianBlur(np.asarray(rng.normal(0, 12, (HEIGHT, WIDTH)), np.float32),
                                     (0, 0), 4)[..., None]
    for i, y in enumerate(range(60, HEIGHT, 28)):
        shade = 120 if i % 2 else 170
        cv2.rectangle(base, (100, y), (540, y + 27), (shade, shade, shade - 10), -1)
    xs = rng.uniform(130, 510, people)
    ys = rng.uniform(90, 470, people)
    speeds = rng.uniform(15, 30, people)
    frames = []
    for k in range(count):
        t = k / 15
        img = base.copy()
        for x, y, s in zip(xs, ys, speeds, strict=True):
            cy = 90 + (y - 90 + s * t) % 380
            cv2.ellipse(img, (round(x), round(cy)), (16, 34), 0, 0, 360, (62, 46, 120), -1)
        noisy = img + np.asarray(rng.normal(0, 2, img.shape), np.float32)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


def configs(rate: float, width: int) -> dict[str, VideoAnalyticsConfig]:
    tamper = TamperConfig()
    crowding = [CrowdingZone(id="stairs", points=STAIRS, person_area=420, people=15)]
    intrusion = [IntrusionZone(id="landing", points=[(0.0, 0.0), (1.0, 0.0), (1.0, 0.3),
                                                     (0.0, 0.3)])]
    lines = [LineCrossing(id="top-step", a=(0.1, 0.5), b=(0.9, 0.5))]
    common = {"rate": rate, "width": width}
    return {
        "tamper only": VideoAnalyticsConfig(tamper=tamper, **common),
        "crowding only": VideoAnalyticsConfig(crowding=crowding, **common),
        "intrusion + line": VideoAnalyticsConfig(intrusion=intrusion, lines=lines,
                                                 **common),
        "all (tamper, crowding, intrusion, line)": VideoAnalyticsConfig(
            tamper=tamper, crowding=crowding, intrusion=intrusion, lines=lines,
            **common),
    }


def per_frame_cost(frames: list[np.ndarray], args: argparse.Namespace) -> None:
    print(f"1. per-frame cost on one thread, 640x480 analysed at {args.width} px wide, "
          f"{args.frames} frames each:")
    for name, config in configs(args.rate, args.width).items():
        scene = SceneAnalytics(config)
        for i in range(30):  # warm the background model and the reference
            scene.analyse(frames[i % len(frames)], i / args.rate, i / args.rate)
        cpu0, t0 = time.thread_time(), time.perf_counter()
        for i in range(args.frames):
            t = (30 + i) / args.rate
            scene.analyse(frames[i % len(frames)], t, t)
        wall = time.perf_counter() - t0
        cpu = time.thread_time() - cpu0
        print(f"  {name:<42} {wall / args.frames * 1e3:6.2f} ms/frame  "
              f"(CPU {cpu / args.frames * 1e3:5.2f} ms)  -> {args.frames / wall:6.0f} fps max "
              "on one thread")
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 80])[1] for f in frames[:50]]
    t0 = time.perf_counter()
    for i in range(args.frames):
        cv2.imdecode(jpegs[i % len(jpegs)], cv2.IMREAD_COLOR)
    decode = (time.perf_counter() - t0) / args.frames
    t0 = time.perf_counter()
    for i in range(args.frames):
        cv2.imencode(".jpg", frames[i % len(frames)], [cv2.IMWRITE_JPEG_QUALITY, 80])
    encode = (time.perf_counter() - t0) / args.frames
    size = statistics.mean(len(j) for j in jpegs)
    print(f"  {'JPEG decode 640x480 (grabber, MJPEG)':<42} {decode * 1e3:6.2f} ms/frame")
    print(f"  {'JPEG encode 640x480 q80 (clip ring)':<42} {encode * 1e3:6.2f} ms/frame  "
          f"({size / 1024:.0f} kB per frame of this scene)")


class Feeder:
    """Stands in for a grabber: publishes the next pre-drawn frame at ``fps``."""

    def __init__(self, frames: list[np.ndarray], fps: float, offset: int) -> None:
        self.frames = frames
        self.fps = fps
        self.offset = offset
        self.frame: Frame | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def latest(self) -> Frame | None:
        return self.frame

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        sequence = 0
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += 1 / self.fps
            sequence += 1
            image = self.frames[(self.offset + sequence) % len(self.frames)]
            self.frame = Frame(image, time.time(), time.monotonic(), sequence)


def paced(frames: list[np.ndarray], cameras: int, args: argparse.Namespace) -> None:
    config = configs(args.rate, args.width)["all (tamper, crowding, intrusion, line)"]
    feeders = [Feeder(frames, args.stream_fps, offset=17 * i) for i in range(cameras)]
    analysers = [VideoAnalyser(f"cam{i}", config, f.latest, lambda _c: None)
                 for i, f in enumerate(feeders)]
    for feeder in feeders:
        feeder.start()
    for analyser in analysers:
        analyser.start()
    time.sleep(2.0)  # past the background model's warm-up
    before = [a.stats() for a in analysers]
    cpu, whole = CpuWindow(os.getpid()).start(), MachineWindow().start()
    t0 = time.perf_counter()
    time.sleep(args.seconds)
    wall = time.perf_counter() - t0
    cpu.stop(), whole.stop()
    after = [a.stats() for a in analysers]
    for analyser in analysers:
        analyser.stop()
    for feeder in feeders:
        feeder.stop()
    rates, cpus, costs = [], [], []
    for b, a in zip(before, after, strict=True):
        analysed = a.analysed - b.analysed
        rates.append(analysed / wall)
        cpus.append(100 * (a.cpu_seconds - b.cpu_seconds) / wall)
        costs.append((a.cpu_seconds - b.cpu_seconds) / max(1, analysed) * 1e3)
    errors = sum(a.errors for a in after)
    print(f"  {cameras} camera(s), {args.rate:g} fps each, stream {args.stream_fps:g} fps, "
          f"{wall:.0f} s:")
    print(f"    analysed per camera: {statistics.mean(rates):.2f} fps "
          f"(min {min(rates):.2f}, max {max(rates):.2f}); target {args.rate:g}")
    print(f"    CPU per camera (analyser thread): {statistics.mean(cpus):.1f} % of one core "
          f"(max {max(cpus):.1f} %), {statistics.mean(costs):.2f} ms CPU per frame")
    print(f"    whole process: {cpu.percent:.0f} % of one core, feeders included; "
          f"errors: {errors}")
    print(f"    {whole.describe(cpu.percent)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rate", type=float, default=5.0, help="analysed fps per camera")
    parser.add_argument("--width", type=int, default=320, help="analysis width in pixels")
    parser.add_argument("--stream-fps", type=float, default=15.0, help="frames/s each feeder "
                        "publishes (the camera's stream rate)")
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=20.0, help="each paced run")
    parser.add_argument("--frames", type=int, default=300, help="frames per per-frame figure")
    parser.add_argument("--people", type=int, default=12, help="people walking in the scene")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"video analytics: opencv {cv2.__version__}, {cv2.getNumThreads()} OpenCV threads")
    print(f"machine: {machine()}")
    check_quiet({os.getpid()})
    frames = stairwell_frames(90, args.people)
    per_frame_cost(frames, args)
    print("2. paced, one analyser thread per camera, every analytic enabled:")
    for cameras in args.cameras:
        paced(frames, cameras, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
