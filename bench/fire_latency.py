"""Fire alarm latency: a fire at a simulated device -> `campus.fire.alarm` at a subscriber.

Both ways a fire system reaches the gateway are measured, one after the other, in one run:

* **modbus**: fire panels read over Modbus TCP with a register-map profile (default 20 panels,
  profile status-word-v1, each panel on its own port), polled every ``--poll-interval`` ms.
* **gbt**: GB/T 26875.3 user information transmission devices (default 20), each connected over
  TCP to the gateway's one receiver and sending component status frames.

One gateway serves both (as on a site with both kinds of fire system), so the panels are still
polled while the GB/T fires are played. ``--paths modbus`` or ``--paths gbt`` runs one alone.

Everything runs on this machine, each part where it would run on a site:

* a private mosquitto on a free loopback port (temp config and dir);
* the simulated panels and transmission devices in a child process (``--sim thread`` runs them
  on a thread of this process instead);
* the gateway as its own process: ``python -m gateway.cli run -c site.yaml``, with both the
  panels and the receiver in its site file;
* a paho subscriber on ``campus/+/event/fire/#`` in this process.

Where each fire is timestamped (``time.time()``), on the simulators' own event loop:

* modbus: right after ``FirePanelSimulator.raise_condition(point, "fire")`` returns, i.e. after
  the new status words are written to the panel's Modbus data store. Those writes never yield to
  the loop (pymodbus' simulator data store completes them synchronously), so no poll is answered
  between the timestamps taken just before and just after the call: "after" is the first moment
  a poll could see the fire (the script prints the longest before-to-after gap).
* gbt: right after the frame that reports the component in fire is written to the transmission
  device's socket (``StreamWriter.write``, which hands the bytes to the kernel when nothing is
  queued before them). The simulator sends one frame at a time and waits for its ACK, so a fire
  frame may wait behind the device's previous frame; that wait is the simulator's, not the
  gateway's, and is printed apart ("fire set -> frame written"). The bytes can reach the gateway
  while ``write()`` is still running (on loopback the kernel may run the gateway before it gives
  the CPU back to the simulator), so "written -> decoded" can be slightly negative; the script
  prints the longest ``write()`` call.

Latency = subscriber receive time - that timestamp, both ``time.time()`` on this machine. Each
``fire.alarm`` is matched to its fire by device + point (the panel's ``L1-P12``, the
transmitter's ``S1-1/C17``). Every fire is restored ``--restore-after`` seconds later, and no point
is set in fire again within ``--reuse`` seconds, so each fire is a fresh change that a poll (or the
receiver's status-word comparison) reports as a new alarm. The event's own ``time`` (stamped by
the gateway when it decoded the change) splits each latency into "-> decoded by the gateway" and
"decoded -> at the subscriber".

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
    free_port,
    free_ports,
    latency_row,
    machine,
    quiet_logging,
    rss_mib,
)

from drivers.gbt26875.panel_state import component_point
from drivers.modbus_fire.catalog import find_register_map

SITE_ID = "school-1"
GATEWAY_ID = "gw1"
RECEIVER_ID = "fire-link"
PATHS = ("modbus", "gbt")
GB_26875_1_LIMIT_MS = 10_000.0  # GB 26875.1: a fire alarm reaches the monitoring centre in 10 s
GBT_TARGET_MS = 50.0
MODBUS_MARGIN_MS = 50.0
SYSTEM_TYPE = 1  # fire alarm system
SYSTEM_ADDRESS = 1

# One entry of a schedule: (seconds after start, "fire"/"restore", device, point, index)
Step = tuple[float, str, str, str, int]
# One fire as done: (index, device, point, fire set, just before the write, just after the write);
# the last two are None if the simulator never wrote it
FireRecord = tuple[int, str, str, float, float | None, float | None]


# -- the site ------------------------------------------------------------------------------------


def panel_ids(count: int) -> list[str]:
    return [f"fire-panel-{i:02d}" for i in range(count)]


def transmitter_ids(count: int) -> list[str]:
    return [f"utd-{i:02d}" for i in range(count)]


def transmitter_address(index: int) -> str:
    return f"0A0B0C{index + 1:06X}"  # 6 bytes, never the centre's 000000000001


def panel_points(profile: str) -> list[str]:
    """Every loop point of the profile that can report a fire."""
    register_map = find_register_map(profile)
    fire = {s.point for s in register_map.signals if s.condition == "fire"}
    return [p.id for p in register_map.loop_points if p.id in fire]


def component_points(count: int) -> list[str]:
    return [component_point(SYSTEM_TYPE, SYSTEM_ADDRESS, a) for a in range(1, count + 1)]


def component_address(point: str) -> int:
    return int(point.rsplit("/C", 1)[1])


def write_site(workdir: Path, broker_url: str, args: argparse.Namespace) -> Path:
    devices: list[dict[str, Any]] = []
    if "modbus" in args.paths:
        ports = free_ports(args.panels)
        for i, (panel, port) in enumerate(zip(panel_ids(args.panels), ports, strict=True)):
            devices.append({
                "id": panel,
                "driver": "modbus_fire",
                "name": f"Fire panel {i}",
                "profile": args.profile,
                "tcp": {"host": "127.0.0.1", "port": port},
                "poll_interval": args.poll_interval / 1000,
                "timeout": "1s",
                "zones": {1: f"building-{i:02d}-f1", 2: f"building-{i:02d}-f2"},
            })
    if "gbt" in args.paths:
        devices.append({
            "id": RECEIVER_ID,
            "driver": "gbt26875",
            "name": "Fire panel links",
            "listen": {"host": "127.0.0.1", "port": free_port()},
            "heartbeat_timeout": "30s",
            "transmitters": [
                {"id": t, "address": transmitter_address(i), "name": f"Fire panel link {i}",
                 "zone": f"hall-{i:02d}"}
                for i, t in enumerate(transmitter_ids(args.transmitters))
            ],
        })
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


def make_schedule(targets: Sequence[tuple[str, str]], args: argparse.Namespace,
                  seed: int) -> list[Step]:
    """Fires at random moments over the given points; each restored ``restore_after`` later."""
    rng = random.Random(seed)
    last: dict[tuple[str, str], float] = {}
    steps: list[Step] = []
    t = 0.0
    for index in range(args.alarms):
        t += rng.uniform(0.0, args.max_gap / 1000)
        for _ in range(10_000):
            target = rng.choice(targets)
            if t - last.get(target, -1e9) >= args.reuse:
                break
        else:
            raise SystemExit("not enough points for --alarms with this --reuse and --max-gap")
        last[target] = t
        steps.append((t, "fire", *target, index))
        steps.append((t + args.restore_after, "restore", *target, index))
    steps.sort(key=lambda s: (s[0], s[1] != "restore"))
    return steps


# -- the simulators (child process or thread) ------------------------------------------------

# (transmitter id, frame serial) -> time.time() just before and just after the frame's first
# write to the socket
FRAMES_WRITTEN: dict[tuple[str, int], tuple[float, float]] = {}


class _StampingWriter:
    """Passes everything to the transmission device's StreamWriter; notes when a frame went out."""

    def __init__(self, writer: asyncio.StreamWriter, key: tuple[str, int]) -> None:
        self._writer = writer
        self._key = key

    def write(self, data: bytes) -> None:
        before = time.time()
        self._writer.write(data)
        FRAMES_WRITTEN.setdefault(self._key, (before, time.time()))  # not a retransmission

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


def stamp_frames(campus: Any) -> None:
    """Make every simulated transmission device note when each data frame is written.

    ``TransmissionDeviceSimulator._deliver(writer, item)`` is where every queued frame is written
    (and retransmitted); it is given a writer that records the time of the first write.
    """
    from simulators.gbt26875.fleet import TransmitterFleet

    for device in campus.devices:
        if not isinstance(device, TransmitterFleet):
            continue
        for transmitter in device.transmitters.values():
            deliver = transmitter._deliver

            async def stamped(writer: Any, item: Any, deliver: Any = deliver,
                              who: str = transmitter.device_id) -> bool:
                return bool(await deliver(_StampingWriter(writer, (who, item.serial)), item))

            transmitter._deliver = stamped  # type: ignore[method-assign]


async def play(campus: Any, path: str, steps: Sequence[Step], start_at: float,
               write_timeout: float) -> list[FireRecord]:
    """Run one path's schedule on the simulators' own loop and time each fire (see the top)."""
    records: list[FireRecord] = []
    frames: list[tuple[int, str, str, float, int]] = []
    fleet = campus.device(RECEIVER_ID) if path == "gbt" else None
    FRAMES_WRITTEN.clear()  # serials wrap at 0xFFFF: only this schedule's frames count
    for offset, action, device, point, index in steps:
        delay = start_at + offset - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if fleet is None:
            panel = campus.device(device)
            if action == "fire":
                before = time.time()
                await panel.raise_condition(point, "fire")
                records.append((index, device, point, before, before, time.time()))
            else:
                await panel.restore(point)
        else:
            transmitter = fleet.transmitter(device)
            component = transmitter.component(component_address(point), SYSTEM_TYPE,
                                              SYSTEM_ADDRESS)
            if action == "fire":
                before = time.time()
                serial = transmitter.set_condition(component, "fire")
                frames.append((index, device, point, before, serial))
            else:
                transmitter.restore(component)
    if frames:
        deadline = time.monotonic() + write_timeout
        while (time.monotonic() < deadline
               and not all((f[1], f[4]) in FRAMES_WRITTEN for f in frames)):
            await asyncio.sleep(0.05)
        for index, device, point, before, serial in frames:
            written = FRAMES_WRITTEN.get((device, serial))
            records.append((index, device, point, before, *(written or (None, None))))
    return records


# -- figures -----------------------------------------------------------------------------------


def match(records: list[FireRecord], events: list[tuple[float, bytes]]) -> dict[str, Any]:
    """Pair each fire with the fire.alarm of its device+point, in order per point."""
    arrivals: dict[tuple[str, str], deque[tuple[float, float]]] = defaultdict(deque)
    alarms = restored = 0
    for received, payload in events:
        body = json.loads(payload)
        if body.get("type") == "campus.fire.restored":
            restored += 1
        if body.get("type") != "campus.fire.alarm":
            continue
        alarms += 1
        arrivals[(body["device"], body["data"]["point"])].append((received, event_time(body)))
    written = [r for r in records if r[5] is not None]
    total, decoded, delivered, missing = [], [], [], []
    for index, device, point, _set, _before, after in sorted(written, key=lambda r: r[5] or 0.0):
        assert after is not None
        queue = arrivals.get((device, point))
        if not queue:
            missing.append((index, device, point))
            continue
        received, stamped = queue.popleft()
        total.append(received - after)
        decoded.append(stamped - after)
        delivered.append(received - stamped)
    return {
        "total": np.array(total) * 1000,
        "decoded": np.array(decoded) * 1000,
        "delivered": np.array(delivered) * 1000,
        "missing": missing,
        "unwritten": [(r[0], r[1], r[2]) for r in records if r[5] is None],
        "unexpected": sum(len(q) for q in arrivals.values()),
        "alarms": alarms,
        "restored": restored,
        "queued_ms": np.array([((r[5] or 0.0) - r[3]) * 1000 for r in written]),
        "write_ms": max((((r[5] or 0.0) - (r[4] or 0.0)) * 1000 for r in written), default=0.0),
    }


def verdict(value: float, limit: float, missing: int) -> str:
    return "PASS" if value <= limit and not missing else "MISS"


# -- the run -----------------------------------------------------------------------------------


def run_path(path: str, args: argparse.Namespace, sim: SimProcess | SimThread,
             recorder: Recorder, gateway: Gateway, watched: dict[str, int]) -> dict[str, Any]:
    """Play one path's fires and print its figures; returns what the summary needs."""
    if path == "modbus":
        points = panel_points(args.profile)
        targets = [(d, p) for d in panel_ids(args.panels) for p in points]
        title = (f"Modbus: {args.panels} fire panels ({args.profile}, {len(points)} points each), "
                 f"poll {args.poll_interval:g} ms")
        target_ms, target_text = (args.poll_interval + MODBUS_MARGIN_MS,
                                  f"poll interval + {MODBUS_MARGIN_MS:g} ms")
        written_as = "raise_condition() call (fire set -> status words written)"
        decoded_as = "written -> seen by a poll"
    else:
        points = component_points(args.components)
        targets = [(d, p) for d in transmitter_ids(args.transmitters) for p in points]
        title = (f"GB/T 26875.3: {args.transmitters} transmission devices -> 1 receiver, "
                 f"{len(points)} components each")
        target_ms, target_text = GBT_TARGET_MS, ""
        written_as = "frame write() call"
        decoded_as = "written -> decoded"
    steps = make_schedule(targets, args, args.seed + PATHS.index(path))
    span = steps[-1][0]
    print()
    print(f"== {title}")
    recorder.events.clear()
    busy = {name: CpuWindow(pid).start() for name, pid in watched.items()}
    whole = MachineWindow().start()
    rss_peak = rss_mib(gateway.proc.pid)
    start_at = time.time() + 0.5
    records: list[FireRecord] = sim.play(path, steps, start_at, args.drain,
                                         timeout=span + args.drain + 60)
    deadline = time.monotonic() + args.drain
    while time.monotonic() < deadline:
        if len(recorder.events) >= 2 * len(records):  # fire.alarm + fire.restored
            break
        rss_peak = max(rss_peak, rss_mib(gateway.proc.pid))
        time.sleep(0.1)
    time.sleep(0.3)  # let the last restored events land too
    for w in busy.values():
        w.stop()
    whole.stop()
    rss_end = rss_mib(gateway.proc.pid)
    rss_peak = max(rss_peak, rss_end)
    if not gateway.alive():
        raise RuntimeError("the gateway exited during the run:\n" + gateway.tail())

    m = match(records, list(recorder.events))
    total = m["total"]
    lost = len(m["missing"]) + len(m["unwritten"])
    print(f"fires: {len(records)} over {span:.1f} s on {len({r[1] for r in records})} devices / "
          f"{len({r[1:3] for r in records})} points, each restored {args.restore_after:g} s later")
    print(f"longest {written_as}: {m['write_ms']:.2f} ms")
    print(f"fire.alarm events matched: {len(total)}   missing: {len(m['missing'])}   "
          f"unexpected extra: {m['unexpected']}   (fire.restored seen: {m['restored']})")
    if m["missing"]:
        print(f"!!! {len(m['missing'])} FIRES NEVER ARRIVED AS campus.fire.alarm !!! "
              f"first: {m['missing'][:5]}")
    if m["unwritten"]:
        print(f"!!! {len(m['unwritten'])} FIRE FRAMES WERE NEVER WRITTEN BY THE SIMULATOR !!! "
              f"first: {m['unwritten'][:5]}")
    print("latency in ms" + (f" (poll interval {args.poll_interval:g} ms: a fire waits "
                             f"0..{args.poll_interval:g} ms for a poll)" if path == "modbus"
                             else ""))
    print(latency_row("fire -> subscriber", total, 30))
    print(latency_row(f"  {decoded_as}", m["decoded"], 30))
    print(latency_row("  decoded -> subscriber", m["delivered"], 30))
    if path == "gbt":  # the simulator's own queue: a frame waits for the ACK of the one before
        print(latency_row("(fire set -> frame written)", m["queued_ms"], 30))
    result: dict[str, Any] = {"path": path, "count": len(total), "lost": lost}
    if len(total):
        p50, p95, p99 = (float(v) for v in np.percentile(total, [50, 95, 99]))
        worst = float(total.max())
        result.update(p50=p50, p95=p95, p99=p99, max=worst)
        result["target"] = (f"p99 <= {target_text}{' = ' if target_text else ''}{target_ms:g} ms",
                            p99, verdict(p99, target_ms, lost))
        result["limit"] = (f"every alarm <= {GB_26875_1_LIMIT_MS / 1000:g} s (GB 26875.1)", worst,
                           verdict(worst, GB_26875_1_LIMIT_MS, lost))
        print(f"target: {result['target'][0]}: p99 {p99:.1f} ms -> {result['target'][2]}")
        print(f"target: {result['limit'][0]}: max {worst:.1f} ms -> {result['limit'][2]}")
    else:
        result["target"] = (f"p99 <= {target_ms:g} ms", float("nan"), "MISS")
        result["limit"] = ("every alarm <= 10 s (GB 26875.1)", float("nan"), "MISS")
    g = busy["gateway"]
    result.update(cpu=g.percent, rss=rss_end, rss_peak=rss_peak)
    print(f"gateway pid {gateway.proc.pid}: CPU {g.percent:.1f} % of one core while firing "
          f"({g.wall1 - g.wall0:.1f} s); RSS {rss_end:.1f} MiB (peak {rss_peak:.1f} MiB)")
    others = ", ".join(f"{name} {w.percent:.1f} %" for name, w in busy.items()
                       if name != "gateway")
    print(f"other processes while firing (% of one core): {others}")
    print(whole.describe(sum(w.percent for w in busy.values())))
    return result


def run(args: argparse.Namespace, workdir: Path) -> int:
    parts = []
    if "modbus" in args.paths:
        parts.append(f"{args.panels} Modbus fire panels ({args.profile}, poll "
                     f"{args.poll_interval:g} ms)")
    if "gbt" in args.paths:
        parts.append(f"{args.transmitters} GB/T 26875.3 transmission devices")
    print(f"fire latency: {' + '.join(parts)}; {args.alarms} fires per path, MQTT "
          f"{args.protocol}, simulators in a {args.sim}")
    print(f"machine: {machine()}")
    check_quiet({os.getpid()})
    broker = Mosquitto(workdir).start()
    site = write_site(workdir, broker.url, args)
    sim: SimProcess | SimThread | None = None
    recorder: Recorder | None = None
    gateway: Gateway | None = None
    try:
        t = time.monotonic()
        sim = (SimProcess(site, play, stamp_frames) if args.sim == "process"
               else SimThread(site, play, stamp_frames))
        recorder = Recorder(broker.port, "campus/+/event/fire/#")
        gateway = Gateway(site)
        devices = set()
        if "modbus" in args.paths:
            devices |= set(panel_ids(args.panels))
        if "gbt" in args.paths:
            devices |= set(transmitter_ids(args.transmitters))
        if not recorder.wait_online(devices, args.online_timeout, gateway.alive):
            print(f"ERROR: only {len(recorder.online & devices)}/{len(devices)} devices online "
                  f"after {args.online_timeout:g} s (gateway alive: {gateway.alive()})")
            print(gateway.tail())
            return 1
        print(f"all {len(devices)} devices online after {time.monotonic() - t:.1f} s "
              f"(simulators, subscriber and gateway started)")

        time.sleep(args.settle)
        idle = {"gateway": CpuWindow(gateway.proc.pid).start(),
                "simulators": CpuWindow(sim.pid).start()}
        time.sleep(args.idle_window)
        for w in idle.values():
            w.stop()
        print(f"idle ({args.idle_window:g} s, panels polled, transmitters connected): gateway "
              f"CPU {idle['gateway'].percent:.1f} % of one core, simulators "
              f"{idle['simulators'].percent:.1f} %; gateway RSS {rss_mib(gateway.proc.pid):.1f} "
              f"MiB")

        watched = {"gateway": gateway.proc.pid, "simulators": sim.pid,
                   "mosquitto": broker.proc.pid if broker.proc else 0}
        if args.sim == "process":
            watched["bench (subscriber)"] = os.getpid()
        results = [run_path(path, args, sim, recorder, gateway, watched)
                   for path in PATHS if path in args.paths]

        print()
        print("summary (latency in ms, fire -> campus.fire.alarm at the subscriber)")
        for r in results:
            name = "Modbus" if r["path"] == "modbus" else "GB/T"
            figures = (f"p50 {r['p50']:.1f}  p95 {r['p95']:.1f}  p99 {r['p99']:.1f}  "
                       f"max {r['max']:.1f}" if r["count"] else "no samples")
            flag = f"   !!! {r['lost']} MISSING !!!" if r["lost"] else ""
            print(f"  {name:<7} {r['count']} matched, missing {r['lost']}{flag}; {figures}")
            for label, value, mark in (r["target"], r["limit"]):
                print(f"          {label}: {value:.1f} ms -> {mark}")
            print(f"          gateway CPU {r['cpu']:.1f} % of one core, RSS {r['rss']:.1f} MiB "
                  f"(peak {r['rss_peak']:.1f} MiB)")
        return 0
    except RuntimeError as exc:
        print(f"ERROR: {exc}")
        return 1
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
    parser.add_argument("--paths", default="modbus,gbt",
                        help="which paths to measure, comma-separated: modbus, gbt")
    parser.add_argument("--panels", type=int, default=20, help="Modbus fire panels")
    parser.add_argument("--profile", default="status-word-v1",
                        help="register-map profile of the panels (config/profiles/fire/NAME.yaml)")
    parser.add_argument("--poll-interval", type=float, default=100.0, metavar="MS",
                        help="poll interval of the panels")
    parser.add_argument("--transmitters", type=int, default=20,
                        help="GB/T 26875.3 transmission devices connected to the receiver")
    parser.add_argument("--components", type=int, default=64,
                        help="components (detectors...) used per transmission device")
    parser.add_argument("--alarms", type=int, default=200, help="fires per path")
    parser.add_argument("--max-gap", type=float, default=150.0, metavar="MS",
                        help="random 0..MS gap between two fires")
    parser.add_argument("--restore-after", type=float, default=None, metavar="S",
                        help="restore each point this long after its fire "
                        "(default: max(0.5, 3 polls + 0.1 s))")
    parser.add_argument("--reuse", type=float, default=None, metavar="S",
                        help="never set one point in fire again within S seconds (default: "
                        "max(1, restore-after + 2 polls + 0.1))")
    parser.add_argument("--protocol", choices=["3.1.1", "5"], default="5",
                        help="MQTT version the gateway speaks")
    parser.add_argument("--sim", choices=["process", "thread"], default="process",
                        help="run the simulators in a child process or a thread of this one")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--online-timeout", type=float, default=120.0, metavar="S")
    parser.add_argument("--settle", type=float, default=2.0, metavar="S",
                        help="wait after all devices are online")
    parser.add_argument("--idle-window", type=float, default=3.0, metavar="S",
                        help="measure idle CPU this long before the first fire")
    parser.add_argument("--drain", type=float, default=15.0, metavar="S",
                        help="wait at most this long after the last fire for its event")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, site file)")
    args = parser.parse_args(argv)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = set(args.paths) - set(PATHS)
    if unknown or not args.paths:
        parser.error(f"--paths: give modbus, gbt or both (got {','.join(args.paths)})")
    poll = args.poll_interval / 1000
    if args.restore_after is None:
        args.restore_after = max(0.5, 3 * poll + 0.1)
    if args.reuse is None:
        args.reuse = max(1.0, args.restore_after + 2 * poll + 0.1)
    quiet_logging()
    if args.keep:
        workdir = Path(tempfile.mkdtemp(prefix="bench-fire-"))
        print(f"work dir (kept): {workdir}")
        return run(args, workdir)
    with tempfile.TemporaryDirectory(prefix="bench-fire-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
