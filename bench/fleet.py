"""A district's fleet on a clustered broker: N gateways, each with its own small simulated campus,
on a 3-node NATS cluster (MQTT 3.1.1, JetStream R3), while broker nodes die and gateways are
killed.

* The cluster: ``simulators.broker_cluster`` (three nats-server processes on loopback, the MQTT
  listener on each, sessions, QoS 1 messages and retained messages replicated to all three).
* N gateway processes (``campus-gateway run``), campus i's site file listing the three nodes
  starting at node i mod 3 (so the fleet is spread over the cluster), MQTT 3.1.1, keepalive 5 s,
  stats every 5 s. Each campus: ``--modules`` Modbus panic modules of two buttons (polled every
  100 ms), a Modbus fire panel (``status-word-v1``), and a gate controller that decides by
  itself and pushes its card reads over HTTP (the webhook dialect).
* The simulators of every campus run in one child process (one event loop); the load schedule
  (presses, fire alarms, card reads at random moments) is played there, and each press is
  stamped with ``time.time()`` just after the new input level is written.
* The central platform: one persistent session (``gateway.central.CentralSubscriber``) that
  follows the cluster, feeds ``gateway.stream_audit`` (the accounting behind
  ``campus-gateway audit-stream``) and stamps each pressed event on arrival.
* While the load runs, one broker node is killed (SIGKILL) every ``--kill-every`` seconds, in
  turn, and started again ``--down`` seconds later. Near the end ``--kill-gateways`` gateways are
  killed with SIGKILL and started again.

Printed, per campus: accepted (the gateway's seqno in its state database), delivered, missing,
duplicates (same id), reordered within a device, press -> central p50/p99 (all presses, and those
outside a failover: from a second before a node's death until every campus's events reach the
centre within 0.5 s of their poll again, the platform's subscriber is back and the last gateway
that was on the node is back, plus 2 s; and for a killed gateway's campus until it is back), the
time each gateway on a dead node took to be back (its status, online on another
node, at the centre). For the fleet: totals, each broker node's CPU and RSS, and each gateway's.

    .venv/bin/python bench/fleet.py --gateways 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from benchlib import (
    Gateway,
    MachineWindow,
    SimProcess,
    check_quiet,
    cpu_seconds,
    event_time,
    free_ports,
    machine,
    rss_mib,
)

from drivers.modbus_fire.catalog import find_register_map
from gateway.central import CentralSubscriber
from gateway.stream_audit import StreamAudit
from simulators.broker_cluster import BrokerCluster

PROFILE = "status-word-v1"
WEBHOOK_SECRET = "fleet-bench-webhook-secret"
STATS_INTERVAL = 5.0
HOLD = 0.4  # a press is held this long (poll 100 ms + debounce 50 ms see it)
REUSE = 1.5  # a button is pressed again no sooner than this after its release

# (seconds after start, campus, action, device, point or card)
Step = tuple[float, int, str, str, str]


def sim_id(campus: int, device: str) -> str:
    """The simulators of every campus share one process: device ids get the campus in front."""
    return f"c{campus:03d}-{device}"


def fire_points() -> list[str]:
    register_map = find_register_map(PROFILE)
    fire = {s.point for s in register_map.signals if s.condition == "fire"}
    return [p.id for p in register_map.loop_points if p.id in fire]


# -- the sites -----------------------------------------------------------------------------------


def campus_devices(modules: int, ports: list[int]) -> list[dict[str, Any]]:
    """The devices of one campus on ``ports`` (``modules`` + 2 of them)."""
    devices: list[dict[str, Any]] = [{
        "id": f"io-{m}", "driver": "modbus", "tcp": {"host": "127.0.0.1", "port": ports[m]},
        "poll_interval": "100ms", "debounce": "50ms", "timeout": "1s",
        "points": [{"id": "btn-a", "input": 0, "zone": f"block-{m}"},
                   {"id": "btn-b", "input": 1, "zone": f"block-{m}"}],
    } for m in range(modules)]
    devices.append({"id": "fire-panel", "driver": "modbus_fire", "profile": PROFILE,
                    "tcp": {"host": "127.0.0.1", "port": ports[modules]},
                    "poll_interval": "100ms", "timeout": "1s",
                    "zones": {1: "hall-f1", 2: "hall-f2"}})
    devices.append({"id": "gate", "driver": "http_gate",
                    "listen": {"host": "127.0.0.1", "port": ports[modules + 1]},
                    "controllers": [{
                        "id": "main", "dialect": "webhook", "mode": "decides",
                        "identity": {"serial": "FLEET-GATE"},
                        "secret": {"env": "FLEET_WEBHOOK"},
                        "doors": [{"door": 1, "gate": "main-gate", "direction": "in"}]}]})
    return devices


def write_sites(workdir: Path, urls: list[str], count: int, modules: int,
                in_flight: int | None) -> tuple[list[Path], Path]:
    """Each campus's site file, and the simulators' site holding every campus's devices."""
    sites, every = [], []
    per = modules + 3  # the devices' ports and the console's
    ports = free_ports(count * per)  # all at once: no two campuses share one
    for i in range(count):
        folder = workdir / f"school-{i:03d}"
        folder.mkdir()
        devices = campus_devices(modules, ports[i * per:i * per + modules + 2])
        doc = {
            "site": {"id": f"school-{i:03d}", "name": f"School {i}"},
            "gateway": {"id": "gw1", "state_dir": str(folder / "state"),
                        "stats_interval": f"{STATS_INTERVAL:g}s"},
            "mqtt": {"url": urls[i % len(urls):] + urls[:i % len(urls)], "protocol": "3.1.1",
                     "keepalive": "5s", **({"in_flight": in_flight} if in_flight else {})},
            "access": {"gates": [{"id": "main-gate"}]},
            "flood": {"burst": 10_000, "per_second": 1000},
            "console": {"listen": {"host": "127.0.0.1", "port": ports[i * per + modules + 2]}},
            "devices": devices,
        }
        path = folder / "site.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        sites.append(path)
        for device in devices:
            copy = {**device, "id": sim_id(i, device["id"])}
            if "controllers" in copy:  # controller ids are unique across the site too
                copy["controllers"] = [{**c, "id": sim_id(i, c["id"])}
                                       for c in copy["controllers"]]
            every.append(copy)
    sims = {"site": {"id": "fleet"}, "gateway": {"id": "sims", "state_dir": str(workdir)},
            "access": {"gates": [{"id": "main-gate"}]}, "devices": every}
    sim_site = workdir / "simulators.yaml"
    sim_site.write_text(yaml.safe_dump(sims, sort_keys=False))
    return sites, sim_site


def schedule(count: int, modules: int, seconds: float, args: argparse.Namespace,
             seed: int = 7) -> list[Step]:
    """Presses, fires and card reads for every campus at random moments over ``seconds``."""
    rng = random.Random(seed)
    steps: list[Step] = []
    buttons = [(f"io-{m}", b) for m in range(modules) for b in ("btn-a", "btn-b")]
    points = fire_points()
    for campus in range(count):
        free_at: dict[tuple[str, str], float] = defaultdict(float)
        t = rng.uniform(0, args.press_gap)
        while t < seconds:
            device, button = rng.choice(buttons)
            start = max(t, free_at[(device, button)])
            if start < seconds:
                steps.append((start, campus, "press", device, button))
                steps.append((start + HOLD, campus, "release", device, button))
                free_at[(device, button)] = start + HOLD + REUSE
            t += rng.uniform(0, 2 * args.press_gap)
        t = rng.uniform(0, args.fire_gap)
        while t < seconds:
            point = rng.choice(points)
            steps.append((t, campus, "fire", "fire-panel", point))
            steps.append((t + 3.0, campus, "restore", "fire-panel", point))
            t += 3.5 + rng.uniform(0, 2 * args.fire_gap)
        t = rng.uniform(0, args.card_gap)
        card = 1000
        while t < seconds:
            card += 1
            steps.append((t, campus, "card", "gate", str(card)))
            t += rng.uniform(0, 2 * args.card_gap)
    return sorted(steps)


# -- the player: runs on the simulators' event loop, in their process ----------------------------


async def drive(campus: Any, kind: str, steps: Sequence[Step],
                start_at: float) -> list[tuple[int, str, str, str, float]]:
    """Play ``steps``; return (campus, action, device, point, time.time() after it) of each."""
    import asyncio

    if kind == "hello":  # a heartbeat: a gate controller is online from its first request
        for _offset, index, _action, device, _point in steps:
            campus.device(sim_id(index, device)).controller(sim_id(index, "main")).heartbeat()
        return []
    done = []
    for offset, index, action, device, point in steps:
        delay = start_at + offset - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        target = campus.device(sim_id(index, device))
        if action == "press":
            await target.press(point)
        elif action == "release":
            await target.release(point)
        elif action == "fire":
            await target.raise_condition(point, "fire")
        elif action == "restore":
            await target.restore(point)
        else:
            target.controller(sim_id(index, "main")).present_card(point, 1, 1)
        done.append((index, action, device, point, time.time()))
    return done


# -- the centre ----------------------------------------------------------------------------------


@dataclass
class Centre:
    """What the platform received: the audit, arrival times of pressed events, statuses."""

    audit: StreamAudit = field(default_factory=lambda: StreamAudit(
        stats_interval=STATS_INTERVAL))
    lock: threading.Lock = field(default_factory=threading.Lock)
    pressed: dict[tuple[str, str, str], list[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(list))  # (site, device, point) -> (seen, arrived)
    pressed_ids: set[str] = field(default_factory=set)
    statuses: list[tuple[float, str, bool, str, int]] = field(default_factory=list)
    online: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    seen_ids: set[str] = field(default_factory=set)
    last_seq: dict[tuple[str, str], int] = field(default_factory=dict)
    reorders: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    flow: list[tuple[str, float, float]] = field(default_factory=list)  # site, seen, arrived

    def take(self, topic: str, payload: bytes, _retained: bool, now: float) -> None:
        with self.lock:
            self.audit.take(topic, payload)
            if not payload:
                return
            if "/event/" in topic:
                self._order(json.loads(payload), now)
            if "/event/panic/" in topic:
                body = json.loads(payload)
                if body["type"] == "campus.panic.pressed" and body["id"] not in self.pressed_ids:
                    self.pressed_ids.add(body["id"])
                    seen = event_time(body)  # when the gateway's poll saw it
                    self.pressed[(body["site"], body["device"], body["data"]["point"])].append(
                        (seen, now))
            elif topic.endswith("/status"):
                body = json.loads(payload)
                broker = body.get("broker") or {}
                self.statuses.append((now, body["site"], bool(body.get("online")),
                                      broker.get("node", ""), broker.get("moves", 0)))
            elif topic.endswith("/availability"):
                body = json.loads(payload)
                site = topic.split("/")[1]
                (self.online[site].add if body.get("online") else
                 self.online[site].discard)(body["device"])


    def _order(self, body: dict[str, Any], now: float) -> None:
        """Which events came after a later one of their device (first arrivals only), and when
        each was seen by its gateway and arrived here."""
        if body["id"] in self.seen_ids:
            return
        self.seen_ids.add(body["id"])
        self.flow.append((body["site"], event_time(body), now))
        key = (body["site"], body["device"])
        last = self.last_seq.get(key, 0)
        if body["seqno"] < last:
            self.reorders[body["site"]].append(f"{body['device']} {body['seqno']} after {last}")
        else:
            self.last_seq[key] = body["seqno"]


# -- process accounting --------------------------------------------------------------------------


class Usage:
    """CPU seconds and the largest RSS of processes that come and go (killed, restarted)."""

    def __init__(self) -> None:
        self.cpu: dict[int, float] = {}
        self.rss: dict[int, float] = {}
        self.owner: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.pids: dict[str, list[int]] = defaultdict(list)

    def watch(self, name: str, pid: int) -> None:
        self.owner[pid] = name
        self.pids[name].append(pid)
        self.sample(pid)

    def sample(self, pid: int) -> None:
        try:
            self.cpu[pid] = cpu_seconds(pid)
            self.rss[pid] = max(self.rss.get(pid, 0.0), rss_mib(pid))
        except (OSError, IndexError, ValueError):
            pass  # it exited: its last sample stands

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for pid in list(self.owner):
                self.sample(pid)

    def start(self) -> Usage:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def of(self, name: str) -> tuple[float, float]:
        """CPU seconds (every process the name had) and the largest RSS among them."""
        pids = self.pids[name]
        return (sum(self.cpu.get(p, 0.0) for p in pids),
                max((self.rss.get(p, 0.0) for p in pids), default=0.0))


# -- the run -------------------------------------------------------------------------------------


def last_seq(site: Path) -> int:
    db = sqlite3.connect(f"file:{site.parent / 'state' / 'state.sqlite3'}?mode=ro", uri=True,
                         timeout=10)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


def delivered_seqs(centre: Centre, site: str) -> set[int]:
    with centre.lock:
        account = centre.audit.gateways.get((site, "gw1"))
        return set() if account is None else {s for e in account.epochs for s in e.seqs}


FLOWING = 0.5  # seconds from a gateway's poll to the centre: events flow as usual


def recovered(centre: Centre, at: float) -> float:
    """When, after a node's death at ``at``, every campus had an event seen after the death
    reach the centre within ``FLOWING``: the cluster carries the fleet as usual again."""
    with centre.lock:
        flow = list(centre.flow)
    first: dict[str, float] = {}
    for site, seen, arrived in flow:
        if seen >= at and arrived - seen < FLOWING:
            first[site] = min(first.get(site, arrived), arrived)
    sites = {site for site, _, _ in flow}
    return max((first.get(site, at + 60.0) for site in sites), default=at)


def reconnects(centre: Centre, kills: list[tuple[float, str]], pauses: list[float],
               central_at: list[float]) -> tuple[dict[str, list[float]],
                                                 list[tuple[float, float]]]:
    """Per campus, the seconds from each death of its node to its status online on another
    node at the centre; and each failover's window: from a second before the death (a press
    then is still on its way) until every campus's events flow as usual again (``recovered``),
    the centre is back on a node if it moved, and every gateway that was on the dead node is
    back, plus 2 s."""
    per_site: dict[str, list[float]] = defaultdict(list)
    windows = []
    with centre.lock:
        statuses = list(centre.statuses)
    for (at, node), pause in zip(kills, pauses, strict=True):
        ends = [at + pause]
        ends += [when for when in central_at if at <= when <= at + 60][:1]
        last_node: dict[str, str] = {}
        for when, site, online, where, _moves in statuses:
            if when < at and online:
                last_node[site] = where
        for site, where in last_node.items():
            if where != node:
                continue
            back = next((when for when, s, online, w, _m in statuses
                         if s == site and when >= at and online and w != node), None)
            if back is not None:
                per_site[site].append(back - at)
                ends.append(back)
        windows.append((at - 1.0, max(ends) + 2.0))
    return per_site, windows


def restarts(centre: Centre, gateway_kills: list[tuple[float, str]],
             ) -> dict[str, list[tuple[float, float]]]:
    """A killed gateway's campus is in a failover of its own: from a second before the kill
    until its status is online again at the centre, plus 2 s."""
    with centre.lock:
        statuses = list(centre.statuses)
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for at, site in gateway_kills:
        back = next((when for when, s, online, _w, _m in statuses
                     if s == site and online and when > at + 1.0), at + 30.0)
        out[site].append((at - 1.0, back + 2.0))
    return out


def latencies(centre: Centre, presses: list[tuple[int, str, str, str, float]],
              windows: list[tuple[float, float]], own: dict[str, list[tuple[float, float]]],
              ) -> dict[str, tuple[list[float], list[float]]]:
    """Per campus, press -> centre in ms: every press, and those outside the failovers. Each
    pressed event is matched to the last press of its button before the gateway saw it."""
    stamps: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for index, action, device, point, t in presses:
        if action == "press":
            stamps[(f"school-{index:03d}", device, point)].append(t)
    out: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    with centre.lock:
        pressed = {k: list(v) for k, v in centre.pressed.items()}
    for key, arrivals in pressed.items():
        times = np.array(sorted(stamps.get(key, [])))
        for seen, arrived in arrivals:
            i = int(np.searchsorted(times, seen + 0.05)) - 1  # seen by a poll after the press
            if i < 0:
                continue
            pressed_at = float(times[i])
            ms = (arrived - pressed_at) * 1000
            everything, calm = out[key[0]]
            everything.append(ms)
            if not any(start <= pressed_at <= end for start, end in [*windows, *own[key[0]]]):
                calm.append(ms)
                SLOW_CALM.append((ms, key[0], pressed_at))
    return out


SLOW_CALM: list[tuple[float, str, float]] = []  # (ms, campus, pressed at) outside failovers


def pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.0f}" if values else "-"


def run(args: argparse.Namespace, workdir: Path) -> int:
    os.environ["FLEET_WEBHOOK"] = WEBHOOK_SECRET
    count = args.gateways
    print(f"# fleet bench: {count} gateways, {args.modules} panic modules + a fire panel + a gate "
          f"controller each, mqtt.in_flight {args.in_flight or 'default'}, max_ack_pending "
          f"{args.max_ack_pending}; broker node killed "
          f"every {args.kill_every:g} s for {args.down:g} s; "
          f"{args.seconds:g} s of load; machine: {machine()}; load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    check_quiet({os.getpid()})
    usage = Usage().start()
    cluster = BrokerCluster(workdir / "cluster", max_ack_pending=args.max_ack_pending).start()
    for node in cluster.nodes:
        usage.watch(node.name, node.pid)
    sites, sim_site = write_sites(workdir, cluster.urls, count, args.modules,
                                  args.in_flight or None)
    centre = Centre()
    central: CentralSubscriber | None = None
    sim: SimProcess | None = None
    gateways: list[Gateway] = []
    loader: threading.Thread | None = None
    try:
        central = CentralSubscriber(cluster.urls, [*centre.audit.filters,
                                                   "campus/+/device/+/availability"],
                                    centre.take, client_id="district-platform").start()
        sim = SimProcess(sim_site, drive)
        usage.watch("simulators", sim.pid)
        gateways = [Gateway(site) for site in sites]
        for i, gateway in enumerate(gateways):
            usage.watch(f"gw{i}", gateway.proc.pid)
        hello = [(0.0, i, "hello", "gate", "") for i in range(count)]
        sim.play("hello", hello, 0.0, timeout=30)
        expected = args.modules + 2
        deadline = time.monotonic() + 60 + 3 * count
        while not all(len(centre.online[f"school-{i:03d}"]) >= expected for i in range(count)):
            if time.monotonic() > deadline:
                late = [i for i in range(count) if len(centre.online[f"school-{i:03d}"])
                        < expected]
                raise SystemExit(f"campuses {late} not online; see {workdir}")
            time.sleep(0.5)
            if int(time.monotonic()) % 5 == 0:
                sim.play("hello", hello, 0.0, timeout=30)
        print("# every campus online at the centre; load starts", flush=True)
        steps = schedule(count, args.modules, args.seconds, args)
        start_at = time.time() + 1.0
        played: list[Any] = []
        loader = threading.Thread(target=lambda: played.extend(sim.play(
            "load", steps, start_at, timeout=args.seconds + 120)), daemon=True)
        machine_window = MachineWindow().start()
        cpu0 = {name: usage.of(name)[0] for name in usage.pids}
        loader.start()
        kills: list[tuple[float, str]] = []
        gateway_kills: list[tuple[float, str]] = []
        end_of_kills = start_at + args.seconds - args.gateway_phase
        next_kill = start_at + args.kill_every
        victim = 0
        while next_kill + args.down < end_of_kills:
            time.sleep(max(0.0, next_kill - time.time()))
            node = cluster.nodes[victim % len(cluster.nodes)]
            usage.sample(node.pid)
            kills.append((time.time(), f"127.0.0.1:{node.mqtt_port}"))
            node.kill()
            print(f"# {time.time() - start_at:5.1f} s: killed broker node {node.name}", flush=True)
            time.sleep(max(0.0, kills[-1][0] + args.down - time.time()))
            cluster.restart(victim % len(cluster.nodes), wait=False)
            usage.watch(node.name, node.pid)
            cluster.wait_ready([node])
            print(f"# {time.time() - start_at:5.1f} s: {node.name} back", flush=True)
            victim += 1
            next_kill += args.kill_every
        time.sleep(max(0.0, end_of_kills - time.time()))
        for i in range(min(args.kill_gateways, count)):
            gateways[i].proc.send_signal(signal.SIGKILL)
            gateways[i].proc.wait(10)
            gateway_kills.append((time.time(), f"school-{i:03d}"))
            print(f"# {time.time() - start_at:5.1f} s: killed gateway school-{i:03d}", flush=True)
        time.sleep(2.0)
        for i in range(min(args.kill_gateways, count)):
            gateways[i] = Gateway(sites[i])
            usage.watch(f"gw{i}", gateways[i].proc.pid)
        loader.join(args.seconds + 150)
        machine_window.stop()
        window = machine_window.wall1 - machine_window.wall0
        for pid in list(usage.owner):
            usage.sample(pid)
        cpu = {name: usage.of(name)[0] - cpu0.get(name, 0.0) for name in usage.pids}
        print("# load done; waiting for every accepted event at the centre", flush=True)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            if all(delivered_seqs(centre, f"school-{i:03d}") >= set(range(1, last_seq(s) + 1))
                   for i, s in enumerate(sites)):
                break
            time.sleep(0.5)
        time.sleep(1.0)  # a last repeat or two
    finally:
        for gateway in gateways:
            gateway.stop()
        if loader is not None:
            loader.join(5)
        if sim is not None:
            sim.stop()
        if central is not None:
            central.stop()
        for node in cluster.nodes:
            if node.alive:
                usage.sample(node.pid)
        usage.stop()
        cluster.stop()
    assert central is not None
    return report(args, centre, sites, played, kills, central.connected_at,
                  gateway_kills, usage, cpu, window, machine_window)


def report(args: argparse.Namespace, centre: Centre, sites: list[Path], played: list[Any],
           kills: list[tuple[float, str]], central_at: list[float],
           gateway_kills: list[tuple[float, str]], usage: Usage, cpu: dict[str, float],
           window: float, machine_window: MachineWindow) -> int:
    pauses = [recovered(centre, at) - at for at, _ in kills]
    per_site_reconnect, windows = reconnects(centre, kills, pauses, central_at)
    lat = latencies(centre, played, windows, restarts(centre, gateway_kills))
    audit = centre.audit.report()
    actions = defaultdict(int)
    for _i, action, *_ in played:
        actions[action] += 1
    print(f"\nload played: {actions['press']} presses, {actions['fire']} fire alarms, "
          f"{actions['card']} card reads over {args.seconds:g} s; {len(kills)} broker node "
          f"kills; {min(args.kill_gateways, len(sites))} gateways killed (SIGKILL) and restarted")
    header = ("campus", "accepted", "delivered", "missing", "dup", "reord", "press p50/p99 ms",
              "p99 outside failover", "reconnect s")
    rows = []
    totals = defaultdict(int)
    all_calm: list[float] = []
    all_lat: list[float] = []
    for i, site in enumerate(sites):
        name = f"school-{i:03d}"
        accepted = last_seq(site)
        got = delivered_seqs(centre, name)
        g = audit["campuses"].get(name, {}).get("gw1", {})
        missing = len(set(range(1, accepted + 1)) - got)
        everything, calm = lat.get(name, ([], []))
        all_lat += everything
        all_calm += calm
        back = per_site_reconnect.get(name, [])
        rows.append((name, str(accepted), str(len(got)), str(missing),
                     str(g.get("duplicates", 0)), str(g.get("reordered", 0)),
                     f"{pct(everything, 50)}/{pct(everything, 99)}", pct(calm, 99),
                     ", ".join(f"{b:.1f}" for b in back) or "-"))
        for key, value in (("accepted", accepted), ("delivered", len(got)),
                           ("missing", missing), ("dup", g.get("duplicates", 0)),
                           ("reord", g.get("reordered", 0))):
            totals[key] += value
    widths = [max(len(r[n]) for r in [header, *rows]) for n in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for site, late in sorted(centre.reorders.items()):
        print(f"  {site} out of order: {'; '.join(late[:6])}"
              + (f" and {len(late) - 6} more" if len(late) > 6 else ""))
    backs = [b for v in per_site_reconnect.values() for b in v]
    print(f"\nfleet: accepted {totals['accepted']}, delivered {totals['delivered']}, "
          f"missing {totals['missing']}, duplicates {totals['dup']}, reordered "
          f"{totals['reord']}; press -> centre p50 {pct(all_lat, 50)} ms, p99 "
          f"{pct(all_lat, 99)} ms; outside failovers p99 {pct(all_calm, 99)} ms "
          f"({len(all_calm)} of {len(all_lat)} presses); reconnect after a node death: "
          f"median {pct(backs, 50)} s, max {max(backs, default=0):.1f} s "
          f"({len(backs)} moves seen)")
    if SLOW_CALM and played:
        first = min(t for *_, t in played)
        slowest = sorted(SLOW_CALM, reverse=True)[:5]
        print("slowest presses outside failovers: " + "; ".join(
            f"{name} at {at - first:.1f} s: {ms:.0f} ms" for ms, name, at in slowest)
            + "; node deaths at " + ", ".join(f"{at - first:.1f}" for at, _ in kills)
            + " s; their windows end at " + ", ".join(f"{end - first:.1f}" for _, end in windows)
            + " s")
    print(f"every campus's events flowed again (seen -> centre under {FLOWING * 1000:.0f} ms) "
          f"{', '.join(f'{p:.1f}' for p in pauses)} s after each node death; the centre's "
          f"subscriber connected {len(central_at)} times")
    print(f"stall checks (audit): {audit['totals']['stalls']} stalls; audit's own view: "
          f"missing {audit['totals']['missing']}, conflicts {audit['totals']['conflicts']}")
    print(f"\nCPU over the {window:.0f} s of load (% of one core) and largest RSS:")
    for node in ("n1", "n2", "n3"):
        seconds, rss = cpu.get(node, 0.0), usage.of(node)[1]
        print(f"  broker {node}: {100 * seconds / window:5.1f} %  {rss:6.1f} MiB")
    gw = [(100 * cpu.get(f"gw{i}", 0.0) / window, usage.of(f"gw{i}")[1])
          for i in range(len(sites))]
    print(f"  gateways: CPU mean {np.mean([c for c, _ in gw]):.1f} %, max "
          f"{max(c for c, _ in gw):.1f} %; RSS mean {np.mean([r for _, r in gw]):.0f} MiB, "
          f"max {max(r for _, r in gw):.0f} MiB (each: "
          + ", ".join(f"{c:.0f}%/{r:.0f}M" for c, r in gw) + ")")
    print(f"  simulators (every campus, one process): "
          f"{100 * cpu.get('simulators', 0.0) / window:.1f} %, "
          f"{usage.of('simulators')[1]:.0f} MiB")
    ours = sum(cpu.values()) * 100 / window
    print(f"  {machine_window.describe(ours)}; load average now {os.getloadavg()[0]:.2f}")
    return 1 if totals["missing"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gateways", type=int, default=10, help="N: campuses, a gateway each")
    p.add_argument("--modules", type=int, default=3, help="panic modules per campus")
    p.add_argument("--seconds", type=float, default=90.0, help="how long the load runs")
    p.add_argument("--kill-every", type=float, default=20.0,
                   help="a broker node is killed this often")
    p.add_argument("--down", type=float, default=5.0, help="and started again after this")
    p.add_argument("--gateway-phase", type=float, default=15.0,
                   help="the last seconds of load: no node kills, gateways killed instead")
    p.add_argument("--kill-gateways", type=int, default=2)
    p.add_argument("--max-ack-pending", type=int, default=1024,
                   help="the cluster's mqtt max_ack_pending: 1 keeps each topic's order at the "
                        "platform's subscriber across a node's death, at one round trip per "
                        "message (the subscriber falls behind a fleet of 10)")
    p.add_argument("--in-flight", type=int, default=1,
                   help="the gateways' mqtt.in_flight (0: the default window): 1 keeps each "
                        "device's order when a NATS node dies")
    p.add_argument("--press-gap", type=float, default=1.0,
                   help="mean seconds between presses at one campus")
    p.add_argument("--fire-gap", type=float, default=10.0)
    p.add_argument("--card-gap", type=float, default=2.0)
    p.add_argument("--drain", type=float, default=90.0,
                   help="seconds to wait after the load for every accepted event")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = p.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        return run(args, workdir)
    finally:
        if args.keep:
            print(f"# work folder kept: {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
