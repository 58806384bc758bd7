"""Camera latency per ONVIF dialect: panic press -> snapshot reference on MQTT and camera event
-> MQTT; and panic latency with 8 cameras' analytics running beside it, with the CPU they cost.
Prints figures; judges nothing.

Everything runs on this machine: a private mosquitto, the simulators (a Modbus I/O module with
16 buttons, ``--cameras`` simulated ONVIF cameras serving 640x480 MJPEG at 10 fps) in a child
process, the gateway as its own process, the subscriber here. Runs of the same site:

1. **without analytics, once per dialect** the camera simulator speaks (every one registered in
   simulators/onvif/dialects.py, or ``--dialects a,b``): ``--dialect-cameras`` cameras speaking
   it are connected (events, snapshots), none analysed;
2. **with analytics**, once, strict cameras: every one of ``--cameras`` cameras' streams is
   grabbed and analysed (tamper + crowding + intrusion at 5 fps, 320x240).

In each run panic presses (a press is timestamped right after its input is written to the
module's data store, as in panic_latency.py) -> ``campus.panic.pressed`` at the subscriber, and a
linkage rule takes a snapshot of the gate camera for each panic alarm ->
``campus.camera.snapshot`` (matched by alarm id) at the subscriber. In the dialect runs also
digital-input changes at the cameras (timestamped just before the simulator queues the ONVIF
notification) -> ``campus.camera.event`` at the subscriber, except for a dialect whose record
says its events are degraded (the gateway reports them unavailable): that cell is "n/a".

    .venv/bin/python bench/camera_latency.py
    .venv/bin/python bench/camera_latency.py --dialects strict,no-events --only dialects
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from benchlib import (
    CpuWindow,
    Gateway,
    Mosquitto,
    OutsideLoad,
    Recorder,
    SimProcess,
    check_quiet,
    dialects_of,
    figures_cell,
    free_port,
    latency_row,
    lost,
    machine,
    percentiles,
    quiet_logging,
    rss_mib,
    speaking,
    table,
)

if TYPE_CHECKING:
    from simulators.dialects import Dialect

BUTTONS = [f"btn-{n}" for n in range(16)]
PASSWORD = os.urandom(12).hex()


def modules_for(presses: int) -> int:
    """Each button is pressed once (a panic alarm latches: a second press raises no new alarm,
    so no new snapshot)."""
    return -(-presses // len(BUTTONS))


def write_site(workdir: Path, broker_url: str, cameras: int, analytics: bool,
               presses: int, dialect: Dialect | None) -> Path:
    camera_sections = []
    for n in range(cameras):
        section: dict[str, Any] = {
            "id": f"cam-{n}", "driver": "onvif", "host": "127.0.0.1", "port": free_port(),
            "username": "gateway", "password": {"env": "BENCH_CAMERA_PASSWORD"},
            "zone": "gate-house" if n == 0 else f"zone-{n}", "presets": ["gate"],
            "scene": ("gate", "stairwell", "field")[n % 3], "stream": {"transport": "mjpeg"},
            "simulator": {"rtsp": False},
        }
        if analytics:
            section["analytics"] = {
                "rate": 5, "width": 320, "tamper": {},
                "crowding": [{"id": "crowd", "points": [[0.1, 0.4], [0.9, 0.4], [0.9, 1.0],
                                                        [0.1, 1.0]]}],
                "intrusion": [{"id": "zone", "points": [[0.5, 0.4], [0.95, 0.4], [0.95, 1.0],
                                                        [0.5, 1.0]]}],
            }
        camera_sections.append(speaking(section, dialect))
    site = {
        "site": {"id": "school-1"},
        "gateway": {"id": "gw1", "state_dir": str(workdir / "state"), "stats_interval": "60s"},
        "mqtt": {"url": broker_url, "protocol": "5"},
        "console": {"listen": {"host": "127.0.0.1", "port": free_port()}},
        "devices": [*({
            "id": f"io-{m}", "driver": "modbus",
            "tcp": {"host": "127.0.0.1", "port": free_port()},
            "poll_interval": "100ms", "debounce": "100ms",
            "points": [{"id": b, "input": n, "zone": "gate-house"}
                       for n, b in enumerate(BUTTONS)]} for m in range(modules_for(presses))),
            *camera_sections],
        "linkage": [{"name": "gate-camera", "when": {"conditions": ["panic"]},
                     "do": [{"camera": "cam-0", "snapshot": True}]}],
        "flood": {"burst": 10_000, "per_second": 1000},
    }
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    return path


async def play(campus: Any, kind: str, count: int, cameras: int) -> list[tuple[str, float]]:
    """On the simulators' loop: presses (device/button, time after the write), or camera
    inputs (camera, time just before the simulator queues the notification)."""
    rng = random.Random(5)
    done: list[tuple[str, float]] = []
    if kind == "presses":
        for n in range(count):
            device, button = f"io-{n // len(BUTTONS)}", BUTTONS[n % len(BUTTONS)]
            module = campus.io_module(device)
            await module.press(button)
            done.append((f"{device}/{button}", time.time()))
            await asyncio.sleep(0.3)
            await module.release(button)
            await asyncio.sleep(0.2 + rng.uniform(0, 0.3))
    else:
        for n in range(count):
            camera = f"cam-{n % cameras}"
            stamp = time.time()
            # each camera in turn, its input on, then off at its next turn: always a change
            await campus.act(camera, "input", {"on": (n // cameras) % 2 == 0})
            done.append((camera, stamp))
            await asyncio.sleep(0.1)
    return done


@dataclass(frozen=True)
class Run:
    """One run: its site (cameras, what they speak, analysed or not) and what is played."""

    cameras: int
    presses: int
    inputs: int
    """camera input changes played after the presses (0: none)"""
    analytics: bool = False
    dialect: Dialect | None = None
    idle_window: float = 0.0
    """seconds of the gateway's idle CPU measured before the presses (0: not measured)"""


def run_once(workdir: Path, run: Run, settle: float) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as running:  # stopped in reverse, whatever failed to start
        broker = Mosquitto(workdir).start()
        running.callback(broker.stop)
        site = write_site(workdir, broker.url, run.cameras, run.analytics, run.presses,
                          run.dialect)
        sim = SimProcess(site, play)
        running.callback(sim.stop)
        recorder = Recorder(broker.port, "campus/+/event/#")
        running.callback(recorder.close)
        gateway = Gateway(site)
        running.callback(gateway.stop)
        wanted = ({f"io-{m}" for m in range(modules_for(run.presses))}
                  | {f"cam-{n}" for n in range(run.cameras)})
        if not recorder.wait_online(wanted, 60, gateway.alive):
            raise RuntimeError(f"online: {sorted(recorder.online)}\n{gateway.tail()}")
        time.sleep(settle)
        if run.idle_window:
            cpu = CpuWindow(gateway.proc.pid).start()
            time.sleep(run.idle_window)
            cpu.stop()
            out["idle_cpu"] = cpu.percent
        cpu = CpuWindow(gateway.proc.pid).start()
        outside = OutsideLoad([gateway.proc.pid, sim.pid, broker.pid, os.getpid()]).start()
        first = len(recorder.events)
        presses = sim.play("presses", run.presses, run.cameras, timeout=run.presses * 2 + 60)
        time.sleep(3.0)
        cpu.stop()
        out["press_cpu"] = cpu.percent
        out["outside"] = outside.stop().percent
        out["rss"] = rss_mib(gateway.proc.pid)
        bodies = [(when, json.loads(p)) for when, p in recorder.events[first:]]
        pressed = [(when, b) for when, b in bodies if b["type"] == "campus.panic.pressed"]
        alarm_of = {f"{b['data']['alarm']['device_id']}/{b['data']['alarm']['point']}":
                    b["data"]["alarm"]["alarm_id"]
                    for _, b in bodies if b["type"] == "campus.alarm.raised"}
        shots = {b["data"]["alarm_id"]: when for when, b in bodies
                 if b["type"] == "campus.camera.snapshot" and b["data"]["alarm_id"]}
        arrived = {f"{b['device']}/{b['data']['point']}": when for when, b in pressed}
        press_ms, snapshot_ms = [], []
        for button, stamp in presses:
            if button in arrived:
                press_ms.append((arrived[button] - stamp) * 1000)
            if alarm_of.get(button) in shots:
                snapshot_ms.append((shots[alarm_of[button]] - stamp) * 1000)
        out["press"] = np.array(press_ms)
        out["snapshot"] = np.array(snapshot_ms)
        out["missing_presses"] = len(presses) - len(press_ms)
        out["missing_snapshots"] = len(presses) - len(snapshot_ms)
        if run.inputs:
            first = len(recorder.events)
            inputs = sim.play("inputs", run.inputs, run.cameras, timeout=run.inputs + 60)
            time.sleep(2.0)
            events: dict[str, list[float]] = {}
            for when, payload in recorder.events[first:]:
                body = json.loads(payload)
                if body["type"] == "campus.camera.event" and body["data"]["kind"] \
                        == "digital_input":
                    events.setdefault(body["device"], []).append(when)
            input_ms = []
            for camera, stamp in inputs:
                arrivals = events.get(camera, [])
                if arrivals:
                    input_ms.append((arrivals.pop(0) - stamp) * 1000)
            out["input"] = np.array(input_ms)
            out["missing_inputs"] = len(inputs) - len(input_ms)
        return out


def dialect_row(dialect: Dialect, result: dict[str, Any] | None) -> list[str]:
    """One row of the dialect table; a capability the dialect's record says is degraded is
    "n/a", not a figure (the gateway reports it unavailable; nothing is measured)."""
    degraded = ", ".join(dialect.degraded) or "nothing"
    if result is None:
        return [dialect.name, "did not run (see below)", "", "", "", "", "", degraded]

    missing = (f"{result['missing_presses']}/{result['missing_snapshots']}/"
               f"{result.get('missing_inputs', '-')}")
    return [dialect.name, percentiles(result["press"]),
            figures_cell(dialect, ["events"], result.get("input")),
            figures_cell(dialect, ["snapshots"], result["snapshot"]), missing,
            f"{result['press_cpu']:.0f} %, {result['rss']:.0f} MiB",
            f"{result['outside']:.0f} %", degraded]


def dialect_runs(workdir: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The no-analytics run once per chosen dialect; prints its table and returns the results
    by dialect name (a run that failed is left out and its error printed)."""
    chosen = dialects_of("onvif", args.dialects)
    results: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    for dialect in chosen:
        events = 0 if lost(dialect, ["events"]) else args.dialect_inputs
        run = Run(args.dialect_cameras, args.dialect_presses, events, dialect=dialect)
        try:
            results[dialect.name] = run_once(workdir / dialect.name, run, args.settle)
        except RuntimeError as exc:
            failures.append(f"{dialect.name}: {exc}")
    print(f"without analytics, per camera dialect: {args.dialect_cameras} cameras speaking it "
          f"(640x480 MJPEG, 10 fps), {modules_for(args.dialect_presses)} I/O modules of 16 "
          f"buttons polled every 100 ms, {args.dialect_presses} presses (each a snapshot of "
          f"cam-0), {args.dialect_inputs} camera input changes; latencies in ms; outside load: "
          "CPU used outside this benchmark while pressing, % of a core")
    header = ["dialect", "press -> panic p50/p95/p99", "camera event -> MQTT p50/p95/p99",
              "press -> snapshot ref p50/p95/p99", "missing press/snap/event",
              "gateway CPU, RSS", "outside load", "degraded"]
    print(table(header, [dialect_row(d, results.get(d.name)) for d in chosen]))
    for failure in failures:
        print(f"  {failure}")
    return results


def analytics_run(workdir: Path, args: argparse.Namespace, strict: dict[str, Any] | None) -> None:
    run = Run(args.cameras, args.presses, 0, analytics=True, idle_window=args.idle_window)
    analysed = run_once(workdir, run, args.settle)
    print(f"with analytics on all {args.cameras} strict cameras (tamper, crowding, intrusion; "
          f"5 fps at 320x240), {modules_for(args.presses)} I/O modules, {args.presses} presses:")
    print(latency_row("press -> panic on MQTT (ms)", analysed["press"], 32))
    print(latency_row("press -> snapshot ref (ms)", analysed["snapshot"], 32))
    print(f"  missing: {analysed['missing_presses']} presses, {analysed['missing_snapshots']} "
          f"snapshots; gateway CPU {analysed['idle_cpu']:.1f} % idle (= "
          f"{analysed['idle_cpu'] / args.cameras:.1f} % a camera), {analysed['press_cpu']:.1f} "
          f"% pressing; RSS {analysed['rss']:.0f} MiB; outside this benchmark "
          f"{analysed['outside']:.0f} % of a core while pressing")
    if strict is not None and len(strict["press"]) and len(analysed["press"]):
        ratio = np.percentile(analysed["press"], 99) / np.percentile(strict["press"], 99)
        print(f"  panic p99 with analytics = {ratio:.2f} x the strict row without analytics "
              f"({args.dialect_cameras} cameras, {args.dialect_presses} presses)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--only", choices=["dialects", "analytics"])
    parser.add_argument("--dialects", help="comma-separated ONVIF dialects to run without "
                        "analytics (default: every one the camera simulator speaks)")
    parser.add_argument("--dialect-cameras", type=int, default=4, help="cameras per dialect run")
    parser.add_argument("--dialect-presses", type=int, default=30,
                        help="panic presses (snapshots) per dialect run")
    parser.add_argument("--dialect-inputs", type=int, default=80,
                        help="camera input changes per dialect run")
    parser.add_argument("--cameras", type=int, default=8, help="analytics run: cameras")
    parser.add_argument("--presses", type=int, default=100, help="analytics run: presses")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--idle-window", type=float, default=10.0,
                        help="analytics run: seconds of idle CPU measured")
    args = parser.parse_args(argv)
    quiet_logging()
    os.environ["BENCH_CAMERA_PASSWORD"] = PASSWORD
    print(f"machine: {machine()}")
    check_quiet({os.getpid()})
    with tempfile.TemporaryDirectory(prefix="bench-cameras-") as tmp:
        results = {}
        if args.only in (None, "dialects"):
            results = dialect_runs(Path(tmp) / "dialects", args)
        if args.only in (None, "analytics"):
            analytics_run(Path(tmp) / "analytics", args, results.get("strict"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
