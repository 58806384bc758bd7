"""Life-safety under abuse: each figure beside the same figure without the abuse.

1. **Fire latency of the other transmitters while one floods**: six GB/T 26875.3 transmission
   devices; one sends well-formed frames of random component statuses as fast as it can (the
   simulator's ``flood`` action: thousands of made-up conditions); the others report fires.
   Latency = the moment the simulator queued the fire frame -> ``campus.fire.alarm`` at a
   subscriber. Target: p99 <= 1 s with the flood.
2. **Panic latency during a command flood**: Modbus I/O modules polled every 100 ms; a second
   process publishes about 1,000 requests a second (a wrong token and 60 KB of arguments each)
   to the gateway. Latency = press -> ``campus.panic.pressed``. Target: p99 within 20 % of the
   figure without the flood.
3. **The GB/T receiver on garbage**: mutated frames (random bytes flipped, dropped or inserted in
   heartbeats of a listed transmitter) and runs of ``@``, sent as fast as the receiver reads them,
   reconnecting whenever it hangs up; beside valid heartbeats sent the same way. Prints frames/s,
   the gateway's CPU, the bytes its log grew by and its RSS before and after.
4. **Memory**: the gateway's RSS (and its peak) once every device is online and polled for a
   while, for a Modbus-only site of 800 panic inputs (50 modules x 16, polled every 100 ms),
   without and with the guard-room console, and for the demo campus (its simulators, 2,061
   people imported); and which of the camera and reader libraries (OpenCV, numpy, libosdp,
   lxml) the gateway's process has mapped. Target for the Modbus-only site: <= 60 MiB.
5. **Panic latency beside a camera that ignores MessageLimit**: Modbus I/O modules polled every
   100 ms and one ONVIF camera (simulated) whose every PullMessages answer carries thousands of
   tamper notifications it was not asked for: 1,500 (an answer under the 1 MiB cap: parsed on a
   worker thread, 100 used, the rest charged to its flood budget), 20,000 and 60,000 (over the
   cap: refused before it is read). Prints press latency beside the figure without the camera
   flooding, the camera events and flooding alarms published, and the gateway's RSS.

Everything runs on this machine: a private mosquitto, the simulators in a child process, the
gateway as its own process. Prints figures only; exit code 1 only if the run itself broke.

    .venv/bin/python bench/abuse.py                 # all five, about five minutes
    .venv/bin/python bench/abuse.py --only garbage --frames 1000000
    .venv/bin/python bench/abuse.py --only memory
    .venv/bin/python bench/abuse.py --only camera
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from benchlib import (
    CpuWindow,
    Gateway,
    Mosquitto,
    Recorder,
    SimProcess,
    check_quiet,
    cpu_seconds,
    free_port,
    free_ports,
    latency_row,
    machine,
    rss_mib,
)

SITE_ID = "school-1"
RECEIVER = "fire-link"
FLOODER = "utd-0"
NORMAL = [f"utd-{i}" for i in range(1, 6)]


def address(index: int) -> str:
    return f"{index + 0x100:012X}"


def base_site(workdir: Path, broker: str, devices: list[dict[str, Any]]) -> Path:
    doc = {
        "site": {"id": SITE_ID},
        "gateway": {"id": "gw1", "state_dir": str(workdir / "state"), "stats_interval": "60s"},
        "mqtt": {"url": broker, "protocol": "5"},
        "devices": devices,
    }
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def receiver(port: int) -> dict[str, Any]:
    return {"id": RECEIVER, "driver": "gbt26875", "listen": {"host": "127.0.0.1", "port": port},
            "heartbeat_timeout": "60s",
            "transmitters": [{"id": t, "address": address(i), "zone": f"hall-{i}"}
                             for i, t in enumerate([FLOODER, *NORMAL])]}


# -- 1: fires beside a flooding transmitter ----------------------------------------------------

async def play_fires(campus: Any, flood: bool, count: int, interval: float,
                     first_address: int) -> list[tuple[str, int, float]]:
    if flood:
        await campus.act(RECEIVER, "flood", {"transmitter": FLOODER, "frames": 0, "seed": 1})
        await asyncio.sleep(3.0)  # well into the flood
    records = []
    start = time.monotonic()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        transmitter = NORMAL[n % len(NORMAL)]
        component = first_address + n
        await campus.act(RECEIVER, "fire", {"transmitter": transmitter,
                                            "component_address": component})
        records.append((transmitter, component, time.time()))
    await asyncio.sleep(2.0)
    if flood:
        await campus.act(RECEIVER, "stop-flood", {"transmitter": FLOODER})
    return records


def fire_latencies(records: list[tuple[str, int, float]], events: list[tuple[float, bytes]]
                   ) -> tuple[np.ndarray, int]:
    arrived: dict[tuple[str, int], float] = {}
    for at, payload in events:
        body = json.loads(payload)
        if body["type"] == "campus.fire.alarm":
            key = (body["device"], body["data"].get("component_address"))
            arrived.setdefault(key, at)
    values = [1000 * (arrived[(t, c)] - sent) for t, c, sent in records if (t, c) in arrived]
    return np.array(values), len(records) - len(values)


def run_fires(args: argparse.Namespace, workdir: Path) -> None:
    print("\n1. fire latency of five transmitters while a sixth floods")
    broker = Mosquitto(workdir).start()
    site = base_site(workdir, broker.url, [receiver(free_port())])
    recorder = Recorder(broker.port, f"campus/{SITE_ID}/event/fire/#")
    sim = SimProcess(site, play_fires)
    gateway = Gateway(site)
    try:
        if not recorder.wait_online({FLOODER, *NORMAL}, 30, gateway.alive):
            raise RuntimeError("the transmitters did not come online:\n" + gateway.tail())
        check_quiet({gateway.proc.pid, sim.pid})
        for flood in (False, True):
            recorder.events.clear()
            cpu = CpuWindow(gateway.proc.pid).start()
            records = sim.play(flood, args.fires, 0.2, 1000 if flood else 100000,
                               timeout=args.fires * 0.2 + 30)
            cpu.stop()
            time.sleep(1.0)
            values, missing = fire_latencies(records, list(recorder.events))
            label = "with one flooding" if flood else "without a flood"
            print(latency_row(label, values) + f"   missing {missing} of {len(records)}"
                  f"   gateway CPU {cpu.percent:.0f} %")
            if flood:
                floods = [json.loads(p) for _, p in recorder.events]
                flooder = sum(1 for b in floods if b["device"] == FLOODER)
                print(f"  {'':28} the flooding transmitter's fire events let through: {flooder}")
                p99 = float(np.percentile(values, 99)) if len(values) else float("inf")
                print(f"  target p99 <= 1000 ms with the flood: "
                      f"{'met' if p99 <= 1000 and not missing else 'MISSED'}")
    finally:
        gateway.stop()
        sim.stop()
        recorder.close()
        broker.stop()


# -- 2: presses during a command flood --------------------------------------------------------

async def play_presses(campus: Any, devices: list[str], count: int, interval: float
                       ) -> list[tuple[str, str, float]]:
    rng = random.Random(5)
    records = []
    start = time.monotonic()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        device = devices[n % len(devices)]
        point = f"btn-{rng.randrange(4)}"
        module = campus.io_module(device)
        await module.release(point)
        await asyncio.sleep(0.25)
        await module.press(point)
        records.append((device, point, time.time()))
    await asyncio.sleep(1.0)
    return records


def command_flood(port: int, seconds: float, per_second: int) -> None:
    """A second process: about ``per_second`` bad requests a second for ``seconds``."""
    import paho.mqtt.client as mqtt

    from gateway.remote import request_body

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    junk = {"blob": "x" * 60_000}
    topic = f"campus/{SITE_ID}/gateway/gw1/request/alarm.acknowledge"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tick = time.monotonic()
        for _ in range(per_second // 20):
            client.publish(topic, json.dumps(request_body("guard1", "wrong", junk)), qos=0)
        time.sleep(max(0.0, 0.05 - (time.monotonic() - tick)))
    client.loop_stop()


def press_latencies(records: list[tuple[str, str, float]], events: list[tuple[float, bytes]]
                    ) -> tuple[np.ndarray, int]:
    arrivals: dict[tuple[str, str], list[float]] = {}
    for at, payload in events:
        body = json.loads(payload)
        if body["type"] == "campus.panic.pressed":
            arrivals.setdefault((body["device"], body["data"]["point"]), []).append(at)
    values, missing = [], 0
    for device, point, pressed in records:
        later = [a for a in arrivals.get((device, point), []) if a >= pressed]
        if later:
            values.append(1000 * (min(later) - pressed))
            arrivals[(device, point)].remove(min(later))
        else:
            missing += 1
    return np.array(values), missing


def run_commands(args: argparse.Namespace, workdir: Path) -> None:
    print("\n2. panic latency during a flood of 1,000 bad requests a second")
    broker = Mosquitto(workdir).start()
    devices = [f"io-{i:02d}" for i in range(args.modules)]
    site = base_site(workdir, broker.url, [
        {"id": d, "driver": "modbus", "tcp": {"host": "127.0.0.1", "port": port},
         "poll_interval": "100ms", "debounce": "50ms",
         "points": [{"id": f"btn-{j}", "input": j, "zone": f"z-{d}"} for j in range(4)]}
        for d, port in zip(devices, free_ports(len(devices)), strict=True)])
    recorder = Recorder(broker.port, f"campus/{SITE_ID}/event/panic/#")
    sim = SimProcess(site, play_presses)
    gateway = Gateway(site)
    try:
        if not recorder.wait_online(set(devices), 30, gateway.alive):
            raise RuntimeError("the modules did not come online:\n" + gateway.tail())
        check_quiet({gateway.proc.pid, sim.pid})
        figures = {}
        for flood in (False, True):
            recorder.events.clear()
            duration = args.presses * 0.3 + 3
            flooder = None
            if flood:
                flooder = multiprocessing.get_context("spawn").Process(
                    target=command_flood, args=(broker.port, duration + 2, 1000))
                flooder.start()
                time.sleep(1.0)
            cpu = CpuWindow(gateway.proc.pid).start()
            records = sim.play(devices, args.presses, 0.3, timeout=duration + 30)
            cpu.stop()
            if flooder is not None:
                flooder.join(30)
            time.sleep(1.0)
            values, missing = press_latencies(records, list(recorder.events))
            figures[flood] = float(np.percentile(values, 99)) if len(values) else float("inf")
            label = "during the request flood" if flood else "without a flood"
            print(latency_row(label, values) + f"   missing {missing} of {len(records)}"
                  f"   gateway CPU {cpu.percent:.0f} %")
        ratio = figures[True] / figures[False] if figures[False] else float("inf")
        print(f"  p99 with the flood = {ratio:.2f} x without -> target <= 1.20: "
              f"{'met' if ratio <= 1.2 else 'MISSED'}")
        audit = workdir / "state" / "audit.jsonl"
        size = audit.stat().st_size if audit.exists() else 0
        print(f"  audit log after the flood: {size:,} bytes")
    finally:
        gateway.stop()
        sim.stop()
        recorder.close()
        broker.stop()


# -- 3: the receiver on garbage ---------------------------------------------------------------

def heartbeat(serial: int, source: bytes, centre: bytes) -> bytes:
    from datetime import datetime

    from drivers.gbt26875.codec import Command, Frame, TransmitterStatus, encode_frame, encode_units

    now = datetime.now().replace(microsecond=0)
    return encode_frame(Frame(serial & 0xFFFF, Command.SEND_DATA, source, centre,
                              encode_units([TransmitterStatus(1, now)]), now))


def mutate(frame: bytes, rng: random.Random) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(3)
        position = rng.randrange(len(data))
        if kind == 0:
            data[position] ^= rng.randrange(1, 256)
        elif kind == 1 and len(data) > 1:
            del data[position]
        else:
            data.insert(position, rng.randrange(256))
    return bytes(data)


async def send_frames(port: int, frames: int, garbage: bool) -> tuple[int, int, int, float]:
    """Send ``frames`` frames (mutated if ``garbage``, with runs of '@' in between), reconnecting
    whenever the receiver hangs up; (frames sent, connections used, answers, seconds). Valid
    frames are timed until the last one is acknowledged."""
    rng = random.Random(3)
    source, centre = bytes.fromhex(address(1)), bytes.fromhex("000000000001")
    sent = connections = 0
    answered = [0]
    start = time.monotonic()
    while sent < frames:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        connections += 1
        drain = asyncio.create_task(_count_answers(reader, answered))
        try:
            while sent < frames and not drain.done():
                batch = []
                for _ in range(64):
                    raw = heartbeat(sent, source, centre)
                    batch.append(mutate(raw, rng) if garbage else raw)
                    if garbage and sent % 1000 == 0:
                        batch.append(b"@" * 4096)
                    sent += 1
                writer.write(b"".join(batch))
                await writer.drain()
            if not garbage:
                deadline = time.monotonic() + 60
                while answered[0] < sent and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await drain
    return sent, connections, answered[0], time.monotonic() - start


async def _count_answers(reader: asyncio.StreamReader, answered: list[int]) -> None:
    from drivers.gbt26875.codec import Frame, FrameReader

    frames = FrameReader()
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            answered[0] += sum(1 for item in frames.feed(data) if isinstance(item, Frame))


def at_signs() -> str:
    """What 1 MiB of '@' costs the frame reader itself (every byte could start a frame)."""
    from drivers.gbt26875.codec import FrameReader

    reader = FrameReader()
    start = time.process_time()
    items = [item for _ in range(256) for item in reader.feed(b"@" * 4096)]
    seconds = time.process_time() - start
    return (f"  1 MiB of '@' through the frame reader: {1000 * seconds:.0f} ms of CPU, "
            f"{len(items)} rejections (one per read), nothing to answer")


def run_garbage(args: argparse.Namespace, workdir: Path) -> None:
    print(f"\n3. the GB/T receiver on {args.frames:,} mutated frames, beside valid ones")
    print(at_signs())
    broker = Mosquitto(workdir).start()
    port = free_port()
    site = base_site(workdir, broker.url, [receiver(port)])
    gateway = Gateway(site)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "listening" not in gateway.log.read_text():
            time.sleep(0.1)
        time.sleep(0.5)
        check_quiet({gateway.proc.pid})
        for garbage in (False, True):
            log0, rss0 = gateway.log.stat().st_size, rss_mib(gateway.proc.pid)
            cpu0 = cpu_seconds(gateway.proc.pid)
            sent, connections, answered, seconds = asyncio.run(
                send_frames(port, args.frames, garbage))
            time.sleep(1.0)  # whatever is still buffered is read
            used = cpu_seconds(gateway.proc.pid) - cpu0
            log1, rss1 = gateway.log.stat().st_size, rss_mib(gateway.proc.pid)
            label = "mutated frames and '@' runs" if garbage else "valid heartbeats (ACKed)"
            print(f"  {label:<28} {sent / seconds:8,.0f} frames/s   {connections:4} connections"
                  f"   {answered:7,} answers   gateway {1e6 * used / sent:5.1f} us CPU a frame"
                  f"   log +{log1 - log0:,} bytes   RSS {rss0:.0f} -> {rss1:.0f} MiB")
    finally:
        gateway.stop()
        broker.stop()


# -- 4: memory ----------------------------------------------------------------------------------

MODBUS_INPUTS_TARGET_MIB = 60.0
# native libraries of the camera and reader drivers, as they appear in /proc/PID/maps
DRIVER_LIBRARIES = {"OpenCV": "/cv2/", "numpy": "/numpy", "libosdp": "/osdp_sys", "lxml": "/lxml/"}
DEMO_CAMPUS = Path(__file__).resolve().parent.parent / "config" / "demo-campus.yaml"


def peak_mib(pid: int) -> float:
    """Peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def mapped_libraries(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name, part in DRIVER_LIBRARIES.items() if part in maps]


async def stay_idle(_campus: Any) -> None:
    """The memory part only needs the devices to answer their polls."""


def modbus_only_site(workdir: Path, broker: str, inputs: int, console: bool) -> Path:
    modules = [f"io-{i:03d}" for i in range(inputs // 16)]
    site = base_site(workdir, broker, [
        {"id": d, "driver": "modbus", "tcp": {"host": "127.0.0.1", "port": port},
         "poll_interval": "100ms", "debounce": "50ms",
         "points": [{"id": f"btn-{j:02d}", "input": j, "zone": f"z-{d}"} for j in range(16)]}
        for d, port in zip(modules, free_ports(len(modules)), strict=True)])
    doc = yaml.safe_load(site.read_text())
    doc["console"] = ({"listen": {"host": "127.0.0.1", "port": free_port()}} if console
                      else {"enabled": False})
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    return site


def demo_campus_site(workdir: Path, broker: str) -> Path:
    """config/demo-campus.yaml with this run's broker, state, secrets and free ports (the
    simulators read the same copy), its people imported as the demo does."""
    from gateway.config import load_site
    from gateway.demo import load_people, make_secrets

    doc = yaml.safe_load(DEMO_CAMPUS.read_text())
    doc["gateway"]["state_dir"] = str(workdir / "state")
    doc["mqtt"]["url"] = broker
    doc["console"]["map"]["image"] = str(DEMO_CAMPUS.parent / doc["console"]["map"]["image"])
    ports: dict[int, int] = {}

    def localise(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"file"}:
                return {"file": str(workdir / "secrets" / Path(node["file"]).name)}
            return {k: (ports.setdefault(v, free_port()) if k == "port" and isinstance(v, int)
                        else localise(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [localise(item) for item in node]
        if isinstance(node, str) and node.startswith("http://127.0.0.1:"):
            port = int(node.rsplit(":", 1)[1].split("/")[0])
            return node.replace(f":{port}", f":{ports.setdefault(port, free_port())}")
        return node

    doc = localise(doc)
    path = workdir / "demo-campus.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    site = load_site(path)
    make_secrets(site)
    site.gateway.state_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(load_people(site))
    return path


def measure_memory(label: str, site: Path, broker: Mosquitto, settle: float) -> float:
    """RSS of a gateway on ``site`` once every device is online and ``settle`` s have passed;
    ``broker`` is fresh, so no retained availability of an earlier run counts."""
    from gateway.config import load_site

    devices = {entry["id"] for d in load_site(site).devices for entry in d.inventory()}
    recorder = Recorder(broker.port, f"campus/{SITE_ID}/event/panic/#")
    sim = SimProcess(site, stay_idle)
    gateway = Gateway(site)
    try:
        started = time.monotonic()
        if not recorder.wait_online(devices, 60, gateway.alive):
            missing = sorted(devices - recorder.online)
            raise RuntimeError(f"{label}: not online after 60 s: {missing}\n{gateway.tail()}")
        online = time.monotonic() - started
        time.sleep(settle)  # polls, subscriptions and analytics running
        pid = gateway.proc.pid
        rss, peak, libraries = rss_mib(pid), peak_mib(pid), mapped_libraries(pid)
        print(f"  {label:<38} RSS {rss:6.1f} MiB   peak {peak:6.1f} MiB   "
              f"{len(devices)} devices online after {online:.1f} s, then {settle:g} s   "
              f"driver libraries mapped: {', '.join(libraries) or 'none'}")
        return rss
    finally:
        gateway.stop()
        sim.stop()
        recorder.close()


def run_memory(args: argparse.Namespace, workdir: Path) -> None:
    print(f"\n4. gateway memory: a Modbus-only site of {args.inputs} inputs, and the demo campus")
    for case in ("console off", "console on", "demo"):
        folder = workdir / case.replace(" ", "-")
        folder.mkdir()
        broker = Mosquitto(folder).start()
        try:
            if case == "demo":
                measure_memory("demo campus (simulated)", demo_campus_site(folder, broker.url),
                               broker, args.settle)
                continue
            site = modbus_only_site(folder, broker.url, args.inputs, case == "console on")
            rss = measure_memory(f"Modbus-only, {args.inputs} inputs, {case}", site, broker,
                                 args.settle)
            print(f"  {'':38} target <= {MODBUS_INPUTS_TARGET_MIB:g} MiB: "
                  f"{'met' if rss <= MODBUS_INPUTS_TARGET_MIB else 'MISSED'}")
        finally:
            broker.stop()


# -- 5: presses beside a camera that floods its answers ------------------------------------------

CAMERA = "flood-cam"
CAMERA_PASSWORD_ENV = "BENCH_ABUSE_CAMERA_PASSWORD"


async def play_camera_flood(campus: Any, devices: list[str], count: int, interval: float,
                            flood: int) -> list[tuple[str, str, float]]:
    camera = campus.device(CAMERA)
    camera.abuse.pull_flood = flood
    if flood:
        # the simulator renders its flood once; done here, before the presses are timed, it
        # holds up no Modbus module of this process while they are
        camera.abuse.flood(b"", camera.clock.now(), camera.video_source, render=True)
        await asyncio.sleep(3.0)  # well into the flood
    try:
        return await play_presses(campus, devices, count, interval)
    finally:
        camera.abuse.pull_flood = 0


def run_camera(args: argparse.Namespace, workdir: Path) -> None:
    import os

    print("\n5. panic latency beside a camera that ignores MessageLimit")
    os.environ[CAMERA_PASSWORD_ENV] = "bench-camera-secret"
    broker = Mosquitto(workdir).start()
    devices = [f"io-{i:02d}" for i in range(args.modules)]
    camera = {"id": CAMERA, "driver": "onvif", "host": "127.0.0.1", "port": free_port(),
              "username": "gateway", "password": {"env": CAMERA_PASSWORD_ENV},
              "zone": "gate-house", "scene": "gate", "simulator": {"rtsp": False},
              "subscription": {"pull_timeout": 2}}
    site = base_site(workdir, broker.url, [camera, *(
        {"id": d, "driver": "modbus", "tcp": {"host": "127.0.0.1", "port": port},
         "poll_interval": "100ms", "debounce": "50ms",
         "points": [{"id": f"btn-{j}", "input": j, "zone": f"z-{d}"} for j in range(4)]}
        for d, port in zip(devices, free_ports(len(devices)), strict=True))])
    recorder = Recorder(broker.port, f"campus/{SITE_ID}/event/#")
    sim = SimProcess(site, play_camera_flood)
    gateway = Gateway(site)
    try:
        if not recorder.wait_online({*devices, CAMERA}, 60, gateway.alive):
            raise RuntimeError("the devices did not come online:\n" + gateway.tail())
        check_quiet({gateway.proc.pid, sim.pid})
        for flood in (0, 1500, 20000, 60000):
            recorder.events.clear()
            duration = args.presses * 0.3 + 6
            cpu = CpuWindow(gateway.proc.pid).start()
            records = sim.play(devices, args.presses, 0.3, flood, timeout=duration + 60)
            cpu.stop()
            time.sleep(1.0)
            events = list(recorder.events)
            values, missing = press_latencies(records, events)
            bodies = [json.loads(p) for _, p in events]
            tamper = sum(1 for b in bodies if b["type"] == "campus.camera.event"
                         and b["device"] == CAMERA)
            flooding = sum(1 for b in bodies if b["type"] == "campus.device.flooding")
            label = f"camera sending {flood:,} extra" if flood else "camera quiet"
            pid = gateway.proc.pid
            print(latency_row(label, values) + f"   missing {missing} of {len(records)}"
                  f"   gateway CPU {cpu.percent:.0f} %")
            print(f"  {'':28} camera events published {tamper}, device.flooding {flooding}, "
                  f"gateway RSS {rss_mib(pid):.0f} MiB (peak {peak_mib(pid):.0f})")
    finally:
        gateway.stop()
        sim.stop()
        recorder.close()
        broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["fires", "commands", "garbage", "memory", "camera"])
    parser.add_argument("--fires", type=int, default=100, help="fires per run (part 1)")
    parser.add_argument("--presses", type=int, default=100, help="presses per run (part 2)")
    parser.add_argument("--modules", type=int, default=20, help="I/O modules (part 2)")
    parser.add_argument("--frames", type=int, default=200_000, help="frames per run (part 3)")
    parser.add_argument("--inputs", type=int, default=800,
                        help="panic inputs of the Modbus-only site, 16 a module (part 4)")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds the devices run before RSS is read (part 4)")
    args = parser.parse_args(argv)
    print(f"life-safety under abuse; {machine()}")
    parts = {"fires": run_fires, "commands": run_commands, "garbage": run_garbage,
             "memory": run_memory, "camera": run_camera}
    try:
        for name, part in parts.items():
            if args.only in (None, name):
                with tempfile.TemporaryDirectory(prefix=f"bench-abuse-{name}-") as tmp:
                    part(args, Path(tmp))
    except RuntimeError as exc:
        print(f"the run broke: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
