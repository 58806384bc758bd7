"""Panic latency while parts of the gateway fail: press -> `campus.panic.pressed` at a subscriber.

The gateway runs in this process (its parts are reached to put faults in them, as the tests
do), with its own mosquitto and the simulated Modbus I/O modules on a thread. For each scenario,
presses are played on modules io-1 and io-2 for ``--seconds`` while a fault hits a part every
``--every`` seconds:

* ``baseline``: no fault;
* ``outbox killed``: the outbox thread ends (SystemExit in its housekeeping), and is restarted;
* ``driver io-0 raises``: the driver of another module raises on a reading;
* ``loops raise``: the alarm clock, the stats loop and media pruning raise at every turn;
* ``deep requests``: 20 `alarm.list` requests nested 20,000 deep per second.

Latency = subscriber receive time - press time (both ``time.time()``). Prints figures only; exit
code 1 only if the run itself broke (a press never arrived is printed as lost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import yaml
from benchlib import Mosquitto, Recorder, SimThread, free_ports, latency_row, machine, quiet_logging

from gateway import app
from gateway.app import Gateway
from gateway.commands import token_digest
from gateway.config import load_site
from gateway.remote import request_body

BUTTONS = [("io-1", "btn-a"), ("io-1", "btn-b"), ("io-2", "btn-a"), ("io-2", "btn-b")]
TOKEN = "bench-token"


def write_site(workdir: Path, broker_url: str) -> Path:
    ports = free_ports(4)
    devices = [{
        "id": f"io-{i}", "driver": "modbus", "tcp": {"host": "127.0.0.1", "port": ports[i]},
        "poll_interval": "50ms", "debounce": "50ms", "timeout": "500ms",
        "points": [{"id": "btn-a", "input": 0, "zone": f"zone-{i}"},
                   {"id": "btn-b", "input": 1, "zone": f"zone-{i}"}],
    } for i in range(3)]
    doc = {"site": {"id": "school-1", "name": "Bench School"},
           "gateway": {"id": "gw1", "state_dir": str(workdir / "state"), "stats_interval": "1s"},
           "mqtt": {"url": broker_url, "protocol": "5"},
           "operators": [{"name": "bench", "role": "guard", "token_sha256": token_digest(TOKEN)}],
           "console": {"listen": {"host": "127.0.0.1", "port": ports[3]}},
           "devices": devices}
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def play(campus: Any, seconds: float, rate: float) -> list[tuple[str, str, float]]:
    """Presses in turn on BUTTONS, each held for 60 % of its turn (several polls, so a busy
    loop never misses one); (device, point, time pressed)."""
    pressed: list[tuple[str, str, float]] = []
    turn = len(BUTTONS) / rate  # a button is pressed again after this

    async def press(device: str, point: str, after: float) -> None:
        await asyncio.sleep(after)
        module = campus.io_module(device)
        await module.press(point)
        pressed.append((device, point, time.time()))
        await asyncio.sleep(turn * 0.6)
        await module.release(point)

    await asyncio.gather(*(press(*BUTTONS[n % len(BUTTONS)], n / rate)
                           for n in range(int(seconds * rate))))
    return pressed


def latencies(presses: list[tuple[str, str, float]],
              events: list[tuple[float, bytes]]) -> tuple[np.ndarray, int]:
    arrived: dict[tuple[str, str], list[float]] = defaultdict(list)
    for received, payload in events:
        body = json.loads(payload)
        if body["type"] == "campus.panic.pressed":
            arrived[(body["device"], body["data"]["point"])].append(received)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    values, lost = [], 0
    for device, point, at in presses:
        key = (device, point)
        k = taken[key]
        taken[key] += 1
        if k < len(arrived[key]):
            values.append(arrived[key][k] - at)
        else:
            lost += 1
    return np.array(values), lost


class InProcessGateway:
    def __init__(self, site: Path) -> None:
        self.gateway = Gateway(load_site(site))
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.thread = threading.Thread(
            target=lambda: self.loop.run_until_complete(self.gateway.run(self._stop)),
            daemon=True, name="gateway")
        self.thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


def faults(gw: Gateway, broker_port: int) -> dict[str, Callable[[threading.Event], Any]]:
    """Each scenario's fault: started with an event that is set when the scenario ends."""
    def every(seconds: float, arm: Callable[[], None]) -> Callable[[threading.Event], None]:
        def run(done: threading.Event) -> None:
            while not done.wait(seconds):
                arm()
        return run

    def outbox_killed(done: threading.Event) -> None:
        armed = threading.Event()
        tidy = gw.outbox._tidy

        def patched(db: Any) -> None:
            if armed.is_set():
                armed.clear()
                raise SystemExit
            tidy(db)

        gw.outbox._tidy = patched  # type: ignore[method-assign]
        every(args.every, armed.set)(done)
        gw.outbox._tidy = tidy  # type: ignore[method-assign]

    def driver_raises(done: threading.Event) -> None:
        driver: Any = gw.supervisor._drivers["io-0"]
        armed = threading.Event()
        apply = driver._apply

        def patched(*a: Any) -> None:
            if armed.is_set():
                armed.clear()
                raise RuntimeError("bench fault")
            apply(*a)

        driver._apply = patched
        every(args.every, armed.set)(done)
        driver._apply = apply

    def loops_raise(done: threading.Event) -> None:
        def boom(*_a: Any) -> Any:
            raise RuntimeError("bench fault")
        saved = gw.doors.tick, gw.stats, gw.media.prune
        gw.doors.tick, gw.stats, gw.media.prune = boom, boom, boom  # type: ignore[method-assign]
        done.wait()
        gw.doors.tick, gw.stats, gw.media.prune = saved  # type: ignore[method-assign]

    def deep_requests(done: threading.Event) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", broker_port)
        client.loop_start()
        while not done.wait(0.05):
            body = request_body("bench", TOKEN, {"filter": "DEEP"})
            deep = json.dumps(body).encode().replace(b'"DEEP"', b"[" * 20000 + b"]" * 20000)
            client.publish("campus/school-1/gateway/gw1/request/alarm.list", deep, qos=1)
        client.loop_stop()

    return {"baseline": lambda done: done.wait(), "outbox killed": outbox_killed,
            "driver io-0 raises": driver_raises, "loops raise": loops_raise,
            "deep requests": deep_requests}


def main(argv: Sequence[str] | None = None) -> int:
    global args
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="presses per scenario")
    parser.add_argument("--rate", type=float, default=8.0, help="presses per second")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between faults")
    args = parser.parse_args(argv)
    quiet_logging()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir).start()
        site = write_site(workdir, broker.url)
        sims = SimThread(site, play)
        app.MEDIA_PRUNE_EVERY = 0.5  # so media pruning turns (and fails) within a scenario
        gateway = InProcessGateway(site)
        recorder = Recorder(broker.port, "campus/+/event/panic/#")
        try:
            if not recorder.wait_online({"io-0", "io-1", "io-2"}, 30, gateway.thread.is_alive):
                print("the modules did not come online", file=sys.stderr)
                return 1
            gw = gateway.gateway
            print("press -> campus.panic.pressed at the subscriber, ms")
            for name, fault in faults(gw, broker.port).items():
                before = {p["name"]: p["failures"] for p in gw.parts()}
                recorder.events.clear()
                done = threading.Event()
                injector = threading.Thread(target=fault, args=(done,), daemon=True)
                injector.start()
                presses = sims.play(args.seconds, args.rate, timeout=args.seconds + 30)
                done.set()
                injector.join(10)
                time.sleep(2.0)  # the last presses arrive
                values, lost = latencies(presses, recorder.events)
                failed = {p["name"]: p["failures"] - before.get(p["name"], 0)
                          for p in gw.parts() if p["failures"] > before.get(p["name"], 0)}
                print(latency_row(name, values * 1000, 20)
                      + f"   presses {len(presses)}, lost {lost}; failures: "
                      + (", ".join(f"{k} {v}" for k, v in failed.items()) or "none"))
                time.sleep(2.0)  # restarts settle before the next scenario
        finally:
            recorder.close()
            gateway.stop()
            sims.stop()
            broker.stop()
    return 0


args: argparse.Namespace

if __name__ == "__main__":
    raise SystemExit(main())
