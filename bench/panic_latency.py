"""Panic latency: a press at a simulated I/O module -> `campus.panic.pressed` at a subscriber.

Everything runs on this machine, each part where it would run on a site:

* a private mosquitto on a free loopback port (temp config and dir);
* the simulated Modbus TCP I/O modules (default 100 x 16 buttons, each module on its own port),
  in a child process by default (``--sim thread`` runs them on a thread of this process);
* the gateway as its own process: ``python -m gateway.cli run -c site.yaml``;
* a paho subscriber on ``campus/+/event/panic/#`` in this process.

Presses are played by the simulator's own event loop, and each press is timestamped
(``time.time()``) right after the new input level is written to the module's data store. The write
never yields to the loop (pymodbus' simulator data store completes it synchronously), so no poll is
answered between the timestamps taken just before and just after it: "after" is the first moment a
poll could see the press (the script prints the longest before-to-after gap).
Latency = subscriber receive time - press time, both ``time.time()`` on this machine.
Each press is released later (a fresh edge next time) and no button is pressed again within
``--reuse`` seconds, so the gateway's debounce never hides one.

The event's own ``time`` (stamped by the gateway when the poll saw the edge) splits each latency
into "press -> seen by a poll" and "seen -> at the subscriber" (outbox commit + MQTT).

Prints figures only; it never fails on a timing. Exit code 1 only if the run itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from benchlib import (
    CpuWindow,
    Gateway,
    MachineWindow,
    Mosquitto,
    Recorder,
    SimProcess,
    SimThread,
    check_quiet,
    event_time,
    free_ports,
    latency_row,
    machine,
    quiet_logging,
    rss_mib,
)

SITE_ID = "school-1"
GATEWAY_ID = "gw1"

# One entry of the press schedule: (seconds after start, "press"/"release", device, point, index)
Step = tuple[float, str, str, str, int]
# One press as done: (index, device, point, time before the write, time after the write)
PressRecord = tuple[int, str, str, float, float]


# -- the site ------------------------------------------------------------------------------------


def device_ids(modules: int) -> list[str]:
    return [f"io-{i:03d}" for i in range(modules)]


def point_ids(buttons: int) -> list[str]:
    return [f"btn-{j:02d}" for j in range(buttons)]


def write_site(workdir: Path, broker_url: str, args: argparse.Namespace) -> Path:
    ports = free_ports(args.modules)
    devices: list[dict[str, Any]] = []
    for i, (device, port) in enumerate(zip(device_ids(args.modules), ports, strict=True)):
        entry: dict[str, Any] = {
            "id": device,
            "driver": "modbus",
            "name": f"I/O module {i}",
            "tcp": {"host": "127.0.0.1", "port": port},
            "poll_interval": args.poll_interval / 1000,
            "debounce": args.debounce / 1000,
            "points": [
                {"id": point, "input": j, "zone": f"zone-{i:03d}", "location": f"Room {i}.{j}"}
                for j, point in enumerate(point_ids(args.buttons))
            ],
        }
        if args.sirens:
            entry["outputs"] = [{"name": "siren", "coil": 0, "kind": "siren"}]
        devices.append(entry)
    doc = {
        "site": {"id": SITE_ID, "name": "Benchmark School"},
        "gateway": {"id": GATEWAY_ID, "state_dir": str(workdir / "state"),
                    "stats_interval": "60s"},
        "mqtt": {"url": broker_url, "protocol": args.protocol},
        "devices": devices,
    }
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def make_schedule(args: argparse.Namespace) -> list[Step]:
    """Presses at random moments spread over every button; each released ``release_after`` later."""
    rng = random.Random(args.seed)
    buttons = [(d, p) for d in device_ids(args.modules) for p in point_ids(args.buttons)]
    last: dict[tuple[str, str], float] = {}
    steps: list[Step] = []
    t = 0.0
    for index in range(args.presses):
        t += rng.uniform(0.0, args.max_gap / 1000)
        for _ in range(10_000):
            button = rng.choice(buttons)
            if t - last.get(button, -1e9) >= args.reuse:
                break
        else:
            raise SystemExit("not enough buttons for --presses with this --reuse and --max-gap")
        last[button] = t
        steps.append((t, "press", *button, index))
        steps.append((t + args.release_after, "release", *button, index))
    steps.sort(key=lambda s: (s[0], s[1] != "release"))
    return steps


# -- the simulators (child process or thread) ------------------------------------------------


async def play(campus: Any, steps: Sequence[Step], start_at: float) -> list[PressRecord]:
    """Run the schedule on the simulators' own loop; time each press at the data-store write."""
    records: list[PressRecord] = []
    for offset, action, device, point, index in steps:
        delay = start_at + offset - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        module = campus.io_module(device)
        if action == "press":
            before = time.time()
            await module.press(point)
            records.append((index, device, point, before, time.time()))
        else:
            await module.release(point)
    return records


# -- figures -----------------------------------------------------------------------------------


def match(records: list[PressRecord], events: list[tuple[float, bytes]]) -> dict[str, Any]:
    """Pair each press with the pressed event of its device+point, in order per button."""
    arrivals: dict[tuple[str, str], deque[tuple[float, float]]] = defaultdict(deque)
    pressed = 0
    for received, payload in events:
        body = json.loads(payload)
        if body.get("type") != "campus.panic.pressed":
            continue
        pressed += 1
        arrivals[(body["device"], body["data"]["point"])].append((received, event_time(body)))
    total, seen, delivered, missing = [], [], [], []
    for index, device, point, _before, after in sorted(records, key=lambda r: r[4]):
        queue = arrivals.get((device, point))
        if not queue:
            missing.append((index, device, point))
            continue
        received, stamped = queue.popleft()
        total.append(received - after)
        seen.append(stamped - after)
        delivered.append(received - stamped)
    return {
        "total": np.array(total) * 1000,
        "seen": np.array(seen) * 1000,
        "delivered": np.array(delivered) * 1000,
        "missing": missing,
        "unexpected": sum(len(q) for q in arrivals.values()),
        "pressed_events": pressed,
        "write_ms": max((r[4] - r[3] for r in records), default=0.0) * 1000,
    }


# -- the run -----------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> int:
    print(f"panic latency: {args.modules} Modbus TCP modules x {args.buttons} buttons, poll "
          f"{args.poll_interval:g} ms, debounce {args.debounce:g} ms, {args.presses} presses, "
          f"MQTT {args.protocol}, simulators in a {args.sim}")
    print(f"machine: {machine()}")
    check_quiet({os.getpid()})
    broker = Mosquitto(workdir).start()
    site = write_site(workdir, broker.url, args)
    sim: SimProcess | SimThread | None = None
    recorder: Recorder | None = None
    gateway: Gateway | None = None
    try:
        t = time.monotonic()
        sim = SimProcess(site, play) if args.sim == "process" else SimThread(site, play)
        recorder = Recorder(broker.port, "campus/+/event/panic/#")
        gateway = Gateway(site)
        devices = set(device_ids(args.modules))
        if not recorder.wait_online(devices, args.online_timeout, gateway.alive):
            print(f"ERROR: only {len(recorder.online)}/{len(devices)} modules online after "
                  f"{args.online_timeout:g} s (gateway alive: {gateway.alive()})")
            print(gateway.tail())
            return 1
        print(f"all {len(devices)} modules online after {time.monotonic() - t:.1f} s "
              f"(simulators, subscriber and gateway started)")

        time.sleep(args.settle)
        idle = {"gateway": CpuWindow(gateway.proc.pid).start(),
                "simulators": CpuWindow(sim.pid).start()}
        time.sleep(args.idle_window)
        for w in idle.values():
            w.stop()

        steps = make_schedule(args)
        span = steps[-1][0]
        recorder.events.clear()
        watched = {"gateway": gateway.proc.pid, "simulators": sim.pid, "mosquitto":
                   broker.proc.pid if broker.proc else 0}
        if args.sim == "process":
            watched["bench (subscriber)"] = os.getpid()
        busy = {name: CpuWindow(pid).start() for name, pid in watched.items()}
        whole = MachineWindow().start()
        rss_peak = rss_mib(gateway.proc.pid)
        start_at = time.time() + 0.5
        records = sim.play(steps, start_at, timeout=span + 60)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            if sum(1 for _ in recorder.events) >= 2 * len(records):  # pressed + released
                break
            rss_peak = max(rss_peak, rss_mib(gateway.proc.pid))
            time.sleep(0.1)
        time.sleep(0.3)  # let the last released events land too
        for w in busy.values():
            w.stop()
        whole.stop()
        rss_end = rss_mib(gateway.proc.pid)
        rss_peak = max(rss_peak, rss_end)
        if not gateway.alive():
            print("ERROR: the gateway exited during the run")
            print(gateway.tail())
            return 1

        m = match(records, list(recorder.events))
        total = m["total"]
        print()
        print(f"presses: {len(records)} over {span:.1f} s on "
              f"{len({(r[1]) for r in records})} modules / {len({r[1:3] for r in records})} "
              f"buttons; each press written within {m['write_ms']:.2f} ms")
        print(f"pressed events matched: {len(total)}   missing: {len(m['missing'])}   "
              f"unexpected extra: {m['unexpected']}")
        if m["missing"]:
            print(f"!!! {len(m['missing'])} PRESSES NEVER ARRIVED AS campus.panic.pressed !!! "
                  f"first: {m['missing'][:5]}")
        print("latency in ms (poll interval "
              f"{args.poll_interval:g} ms: a press waits 0..{args.poll_interval:g} ms for a poll)")
        print(latency_row("press -> subscriber", total))
        print(latency_row("  press -> seen by a poll", m["seen"]))
        print(latency_row("  seen -> subscriber", m["delivered"]))
        if len(total):
            p99 = float(np.percentile(total, 99))
            target = args.poll_interval + 30
            verdict = "PASS" if p99 <= target and not m["missing"] else "MISS"
            print(f"target: p99 <= poll interval + 30 ms = {target:g} ms: p99 {p99:.1f} ms "
                  f"-> {verdict}")
        print()
        print(f"gateway pid {gateway.proc.pid}: CPU {busy['gateway'].percent:.1f} % of one core "
              f"while pressing ({busy['gateway'].wall1 - busy['gateway'].wall0:.1f} s), "
              f"{idle['gateway'].percent:.1f} % idle-polling ({args.idle_window:g} s before); "
              f"RSS {rss_end:.1f} MiB (peak {rss_peak:.1f} MiB)")
        polls_per_second = args.modules * 1000 / args.poll_interval
        per_poll = idle["gateway"].percent / 100 / polls_per_second * 1e6
        print(f"gateway CPU per poll, idle: {per_poll:.0f} us ({args.modules} modules x "
              f"{1000 / args.poll_interval:g} polls/s = {polls_per_second:,.0f} polls/s)")
        others = ", ".join(f"{name} {w.percent:.1f} %" for name, w in busy.items()
                           if name != "gateway")
        print(f"other processes while pressing (% of one core): {others}; "
              f"simulators idle {idle['simulators'].percent:.1f} %")
        print(whole.describe(sum(w.percent for w in busy.values())))
        return 0
    finally:
        if gateway is not None:
            gateway.stop()
        if recorder is not None:
            recorder.close()
        if sim is not None:
            sim.stop()
        broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--modules", type=int, default=100, help="Modbus TCP I/O modules")
    parser.add_argument("--buttons", type=int, default=16, help="panic buttons per module")
    parser.add_argument("--poll-interval", type=float, default=100.0, metavar="MS")
    parser.add_argument("--debounce", type=float, default=100.0, metavar="MS")
    parser.add_argument("--presses", type=int, default=400)
    parser.add_argument("--max-gap", type=float, default=150.0, metavar="MS",
                        help="random 0..MS gap between two presses")
    parser.add_argument("--release-after", type=float, default=None, metavar="S",
                        help="release each button this long after its press "
                        "(default: max(0.4, 2 polls + debounce + 0.1 s))")
    parser.add_argument("--reuse", type=float, default=None, metavar="S",
                        help="never press one button again within S seconds (default: max(1, "
                        "release-after + 2 polls + debounce + 0.1))")
    parser.add_argument("--protocol", choices=["3.1.1", "5"], default="5",
                        help="MQTT version the gateway speaks")
    parser.add_argument("--sim", choices=["process", "thread"], default="process",
                        help="run the simulators in a child process or a thread of this one")
    parser.add_argument("--sirens", action="store_true",
                        help="give each module a siren output (alarms then switch its coil)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--online-timeout", type=float, default=120.0, metavar="S")
    parser.add_argument("--settle", type=float, default=2.0, metavar="S",
                        help="wait after all modules are online")
    parser.add_argument("--idle-window", type=float, default=3.0, metavar="S",
                        help="measure idle-polling CPU this long before pressing")
    parser.add_argument("--drain", type=float, default=15.0, metavar="S",
                        help="wait at most this long after the last press for its event")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, site file)")
    args = parser.parse_args(argv)
    poll, debounce = args.poll_interval / 1000, args.debounce / 1000
    if args.release_after is None:
        args.release_after = max(0.4, 2 * poll + debounce + 0.1)
    if args.reuse is None:
        args.reuse = max(1.0, args.release_after + 2 * poll + debounce + 0.1)
    quiet_logging()
    if args.keep:
        workdir = Path(tempfile.mkdtemp(prefix="bench-panic-"))
        print(f"work dir (kept): {workdir}")
        return run(args, workdir)
    with tempfile.TemporaryDirectory(prefix="bench-panic-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
