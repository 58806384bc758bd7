"""The path to the alarm receiving centre (SIA DC-09): press -> acknowledged at the receiver,
how long a silent receiver goes unnoticed, and how fast a backlog reaches the centre.

Everything runs on this machine: a private mosquitto, the gateway as its own process, and in a
thread of this process the simulated Modbus I/O module and the centre's two simulated DC-09
receivers (primary and backup, TCP, AES-128).

* Latency: a button is pressed (``time.time()`` right after the input is written to the
  module's data store), the panic (or its reactivation, after the key is turned back) is sent
  by the gateway, and the receiver stamps the block when it takes it, just before its ACK.
  Latency = receiver's stamp - press time.
* Detection: the primary is told to go silent; detection = arrival of
  ``campus.alarm_path.failed`` at an MQTT subscriber - that moment. The configured reporting
  time (supervision + attempts x answer_within) is printed beside it.
* Throughput: both receivers down, ``--backlog`` alarms raised; both up again; messages per
  second until the last one is at the centre (one block at a time, each waiting for its ACK,
  as DC-09 has it).

Prints figures only; it never fails on a timing. Exit code 1 only if the run itself broke.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (
    Gateway,
    Mosquitto,
    Recorder,
    SimThread,
    free_port,
    latency_row,
    machine,
    quiet_logging,
)

from gateway.kernel.fields import parse_duration

BUTTONS = 16


async def player(campus: Any, command: str, *args: Any) -> Any:
    """Runs on the simulators' loop: presses, receiver actions, what a receiver took."""
    if command == "press":
        await campus.io_module("io-0").press(args[0])
        return time.time()
    if command == "release":
        await campus.io_module("io-0").release(args[0])
        return None
    if command == "act":
        await campus.act(args[0], args[1], args[2] if len(args) > 2 else {})
        return None
    if command == "taken":
        return [dict(r) for r in campus.device(args[0]).events() if not r["duplicate"]]
    raise ValueError(command)


def site_file(workdir: Path, broker: str, supervision: str) -> Path:
    key = workdir / "arc.key"
    key.write_text("0F" * 16)
    doc = {
        "site": {"id": "bench-school"},
        "gateway": {"id": "gw1", "state_dir": str(workdir / "state")},
        "mqtt": {"url": broker},
        "console": {"enabled": False},
        "devices": [{
            "id": "io-0", "driver": "modbus", "tcp": {"host": "127.0.0.1", "port": free_port()},
            "poll_interval": "50ms", "debounce": "50ms", "timeout": "500ms",
            "points": [{"id": f"btn-{n}", "input": n, "zone": "gate-house"}
                       for n in range(BUTTONS)]}],
        "alarm_centre": {
            "account": "1234", "key": {"file": str(key)}, "supervision": supervision,
            "answer_within": "500ms", "attempts": 2,
            "receivers": [{"url": f"tcp://127.0.0.1:{free_port()}", "name": "arc-primary"},
                          {"url": f"tcp://127.0.0.1:{free_port()}", "name": "arc-backup"}]},
    }
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def stamp(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["received_at"]).timestamp()


def wait_taken(sims: SimThread, receiver: str, count: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        taken = [r for r in sims.play("taken", receiver, timeout=10) if r["code"] == "PA"]
        if len(taken) >= count or time.monotonic() > deadline:
            return taken
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--supervision", default="2s", help="the NULL message interval")
    parser.add_argument("--detections", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=160)
    args = parser.parse_args()
    quiet_logging()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-arc-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir).start()
        site = site_file(workdir, broker.url, args.supervision)
        sims = SimThread(site, player)
        recorder = Recorder(broker.port, "campus/+/event/alarm_path/#")
        gateway = Gateway(site)
        try:
            if not recorder.wait_online({"io-0"}, 30, gateway.alive):
                print(gateway.tail())
                return 1
            wait_taken(sims, "arc-primary", 0, 1)
            latencies = press_to_ack(sims, args.presses)
            detections = silent_primary(sims, recorder, args.detections)
            rate = backlog(sims, args.backlog)
        finally:
            gateway.stop()
            recorder.close()
            sims.stop()
            broker.stop()
    print(f"\npress -> ACK at the centre's receiver ({len(latencies)} presses, AES-128, TCP), ms")
    print(latency_row("press -> acknowledged", np.array(latencies) * 1000))
    reporting = parse_duration(args.supervision) + 2 * 0.5  # + attempts x answer_within
    print(f"\nsilent primary -> campus.alarm_path.failed at a subscriber (reporting time on "
          f"paper {reporting:g} s), s")
    for n, seconds in enumerate(detections, 1):
        print(f"  run {n}: {seconds:.2f}")
    count, first, span = rate
    print(f"\nbacklog after an outage: {count} alarms; the first at the centre {first:.2f} s "
          f"after it answers again (a failed receiver is tried every supervision interval), "
          f"the rest in {span:.2f} s = {(count - 1) / span if span else 0:.0f} messages/s")
    return 0


def press_to_ack(sims: SimThread, presses: int) -> list[float]:
    """One button pressed and turned back again and again: each press reactivates its panic
    alarm, which is sent again."""
    latencies = []
    for n in range(presses):
        pressed = sims.play("press", "btn-0", timeout=10)
        taken = wait_taken(sims, "arc-primary", n + 1, 10)
        if len(taken) <= n:
            print(f"press {n}: not at the centre within 10 s")
            break
        latencies.append(stamp(taken[n]) - pressed)
        sims.play("release", "btn-0", timeout=10)
        time.sleep(0.2)  # past the debounce: the next press is a new edge
    return latencies


def silent_primary(sims: SimThread, recorder: Recorder, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        seen = len(_path_events(recorder, "failed"))
        silenced = time.time()
        sims.play("act", "arc-primary", "silent", timeout=10)
        deadline = time.monotonic() + 120
        while len(_path_events(recorder, "failed")) == seen and time.monotonic() < deadline:
            time.sleep(0.01)
        failed = _path_events(recorder, "failed")
        if len(failed) == seen:
            print("the silent primary was not reported within 120 s")
            break
        seconds.append(failed[-1][0] - silenced)
        restored = len(_path_events(recorder, "restored"))
        sims.play("act", "arc-primary", "normal", timeout=10)
        while len(_path_events(recorder, "restored")) == restored and time.monotonic() < deadline:
            time.sleep(0.05)
    return seconds


def _path_events(recorder: Recorder, kind: str) -> list[tuple[float, dict[str, Any]]]:
    return [(at, body) for at, raw in list(recorder.events)
            if (body := json.loads(raw))["type"] == f"campus.alarm_path.{kind}"]


def backlog(sims: SimThread, count: int) -> tuple[int, float, float]:
    """(alarms at the centre, seconds to the first of them, seconds from it to the last)."""
    before = len(wait_taken(sims, "arc-primary", 0, 1))
    for receiver in ("arc-primary", "arc-backup"):
        sims.play("act", receiver, "down", timeout=10)
    raised = 0
    while raised < count:  # every button pressed and turned back: a reactivation each
        buttons = [f"btn-{n}" for n in range(min(BUTTONS, count - raised))]
        for button in buttons:
            sims.play("press", button, timeout=10)
        time.sleep(0.2)
        for button in buttons:
            sims.play("release", button, timeout=10)
        time.sleep(0.2)
        raised += len(buttons)
    time.sleep(1.0)  # the last ones committed to the queue
    up = time.time()
    for receiver in ("arc-primary", "arc-backup"):
        sims.play("act", receiver, "normal", timeout=10)
    deadline = time.monotonic() + 300
    while True:
        taken = (wait_taken(sims, "arc-primary", 0, 0) + wait_taken(sims, "arc-backup", 0, 0))
        if len(taken) >= before + count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    times = sorted(stamp(r) for r in taken if stamp(r) >= up)
    if not times:
        return 0, 0.0, 0.0
    return len(times), times[0] - up, times[-1] - times[0]


if __name__ == "__main__":
    raise SystemExit(main())
