"""Durable outbox throughput to mosquitto at QoS 1, next to raw paho on the same broker and run.

Phases, each against the same private mosquitto (free loopback port, temp config), each with
N messages of a ~600-byte CloudEvents JSON payload (a real `campus.panic.pressed` envelope):

1. raw: one paho client publishes N messages at QoS 1; timed from the first publish() to the
   N-th PUBACK (on_publish).
2. durable: gateway.outbox.Outbox (default limits) + gateway.mqtt_link.MqttLink, connected;
   N Outgoing messages put (sequenced, ~100 devices, a few percent life-safety); timed from the
   first put() until outbox.stats().delivered == N, i.e. every row committed to SQLite, published,
   PUBACKed and deleted. Once with synchronous=FULL (the default) and once with NORMAL.
3. backlog replay: N messages put while the link is not connected; once all are committed the
   link is started, timed from link start to delivered == N. The outbox paces a replay at the
   Outbox limit ``replay_rate`` (events/s): run with the default and with a high value.

No subscriber is attached: the figures are broker acceptance (PUBACK) rates.
Prints figures only; it never fails on a timing. Exit code 1 only if the run itself broke.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import uuid6
from benchlib import CpuWindow, MachineWindow, Mosquitto, check_quiet, machine
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.config import Mqtt
from gateway.config import Outbox as OutboxLimits
from gateway.kernel.events import PANIC_PRESSED, Event, PointFact, Severity
from gateway.mqtt_link import MqttLink
from gateway.outbox import Outbox, Outgoing
from gateway.publisher import CLOUDEVENTS_CONTENT_TYPE, envelope
from gateway.topics import Topics

TOPICS = Topics("campus", "school-1", "gw1")


# -- the messages --------------------------------------------------------------------------------


def make_bodies(n: int, devices: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """N (device, CloudEvents body) pairs: real panic.pressed envelopes, each with its own id."""
    rng = random.Random(seed)
    template = envelope(
        Event(PANIC_PRESSED, "io-000", PointFact(
            point="btn-07", zone="science-building-east-wing",
            location="Chemistry lab 2.14, second floor, by the north fire door, left of the "
            "fume cupboard",
            name="Panic button, chemistry lab 2.14 (north wall)", input=7),
            Severity.CRITICAL, "btn-07"),
        site=TOPICS.site, gateway=TOPICS.gateway, drill=False)
    out = []
    for _ in range(n):
        device = f"io-{rng.randrange(devices):03d}"
        body = dict(template)
        body["id"] = str(uuid6.uuid7())
        body["device"] = device
        body["source"] = template["source"].replace("io-000", device)
        out.append((device, body))
    return out


def encoded(body: dict[str, Any], seq: int) -> bytes:
    """The bytes the outbox would publish for ``body`` (it adds seqno and packs the JSON)."""
    return json.dumps({**body, "seqno": seq}, separators=(",", ":")).encode()


# -- the phases ----------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    count: int
    seconds: float | None  # None: did not finish in time
    cpu_self: float = 0.0
    cpu_broker: float = 0.0
    note: str = ""
    whole: MachineWindow | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def wait_until(predicate: Any, timeout: float, step: float = 0.002) -> float | None:
    """perf_counter() when ``predicate()`` first held, or None after ``timeout`` seconds."""
    deadline = time.perf_counter() + timeout
    while True:
        now = time.perf_counter()
        if predicate():
            return now
        if now > deadline:
            return None
        time.sleep(step)


def raw_paho(broker: Mosquitto, bodies: list[tuple[str, dict[str, Any]]],
             args: argparse.Namespace) -> Result:
    n = len(bodies)
    payloads = [(TOPICS.event("panic", d), encoded(b, i + 1)) for i, (d, b) in enumerate(bodies)]
    v5 = args.protocol == "5"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw-publisher",
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    client.max_inflight_messages_set(args.raw_inflight)
    acked = 0
    last: list[float] = []
    done = threading.Event()
    connected = threading.Event()

    def on_publish(*_a: Any) -> None:
        nonlocal acked
        acked += 1
        if acked == n:
            last.append(time.perf_counter())
            done.set()

    client.on_publish = on_publish
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("raw publisher could not connect")
    props = None
    if v5:  # what MqttLink sends with every message on MQTT 5
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = CLOUDEVENTS_CONTENT_TYPE
    cpu, broker_cpu = CpuWindow(os.getpid()).start(), CpuWindow(broker_pid(broker)).start()
    whole = MachineWindow().start()
    t0 = time.perf_counter()
    for topic, payload in payloads:
        client.publish(topic, payload, qos=1, properties=props)
    finished = done.wait(args.timeout)
    cpu.stop(), broker_cpu.stop(), whole.stop()
    client.disconnect()
    client.loop_stop()
    return Result("raw paho", n, last[0] - t0 if finished else None, cpu.percent,
                  broker_cpu.percent, f"in-flight window {args.raw_inflight}", whole)


def outgoing(bodies: list[tuple[str, dict[str, Any]]], life_safety: float,
             seed: int) -> list[Outgoing]:
    rng = random.Random(seed)
    return [
        Outgoing(topic=TOPICS.event("panic", device), body=body, device=device,
                 kind=PANIC_PRESSED.name, life_safety=rng.random() < life_safety,
                 sequenced=True, content_type=CLOUDEVENTS_CONTENT_TYPE)
        for device, body in bodies
    ]


def durable(broker: Mosquitto, messages: list[Outgoing], args: argparse.Namespace,
            workdir: Path, *, synchronous: str, backlog: bool = False,
            replay_rate: float | None = None) -> Result:
    n = len(messages)
    limits = OutboxLimits(synchronous=synchronous, **(
        {"replay_rate": replay_rate} if replay_rate is not None else {}))
    name = f"durable {synchronous.upper()}" if not backlog else (
        f"backlog replay {synchronous.upper()}, replay_rate {limits.replay_rate:g}")
    path = workdir / f"outbox-{len(list(workdir.glob('outbox-*')))}.sqlite3"
    outbox = Outbox(path, limits)
    link = MqttLink(Mqtt(url=broker.url, protocol=args.protocol), TOPICS,
                    on_request=lambda _r: None,
                    on_connection=lambda _up: outbox.connection_changed(),
                    on_ack=outbox.acked, announce=list)
    outbox.start()
    outbox.attach(link)
    note = ""
    try:
        cpu, broker_cpu = CpuWindow(os.getpid()), CpuWindow(broker_pid(broker))
        whole = MachineWindow()
        if not backlog:
            link.start()
            if not link.wait_connected(10):
                raise RuntimeError("MqttLink could not connect")
            time.sleep(0.5)  # the connect's replay check has run on the empty outbox
            cpu.start(), broker_cpu.start(), whole.start()
            t0 = time.perf_counter()
            for message in messages:
                outbox.put(message)
            accepted = outbox.wait_accepted(n, args.timeout)
            t_accepted = time.perf_counter()
        else:
            t_put = time.perf_counter()
            for message in messages:
                outbox.put(message)
            if not outbox.wait_accepted(n, args.timeout):
                raise RuntimeError("the outbox did not accept the backlog in time")
            took = time.perf_counter() - t_put
            note = f"backlog committed with the link down in {took:.2f} s ({n / took:,.0f}/s); "
            cpu.start(), broker_cpu.start(), whole.start()
            t0 = time.perf_counter()
            link.start()
            accepted, t_accepted = True, t0
        t_done = wait_until(lambda: outbox.stats().delivered >= n, args.timeout)
        cpu.stop(), broker_cpu.stop(), whole.stop()
        stats = outbox.stats()
        if accepted and not backlog:
            note = f"all committed after {t_accepted - t0:.2f} s; "
        note += f"left in outbox: {stats.backlog}, rejected: {stats.rejected}"
        return Result(name, n, t_done - t0 if t_done else None, cpu.percent, broker_cpu.percent,
                      note, whole)
    finally:
        outbox.close()
        link.stop()


def broker_pid(broker: Mosquitto) -> int:
    assert broker.proc is not None
    return broker.proc.pid


# -- report --------------------------------------------------------------------------------------


def show(result: Result) -> None:
    took = f"{result.seconds:7.2f} s" if result.seconds else "did not finish (timeout)"
    per_message = result.cpu_self / 100 * (result.seconds or 0) / result.count * 1e6
    print(f"  {result.name:<44} {result.rate:9,.0f} events/s   {result.count} in {took}")
    print(f"  {'':<44} CPU: this process {result.cpu_self:.0f} % of one core "
          f"({per_message:.0f} us per message), mosquitto {result.cpu_broker:.0f} %")
    if result.note:
        print(f"  {'':<44} {result.note}")
    if result.whole is not None:
        print(f"  {'':<44} {result.whole.describe(result.cpu_self + result.cpu_broker)}")


def verdict(name: str, rate: float, raw_rate: float, floor: float) -> str:
    ratio = rate / raw_rate if raw_rate else 0.0
    ok = rate >= floor and ratio >= 0.5
    return (f"{name}: {rate:,.0f} events/s = {ratio:.0%} of raw ({raw_rate:,.0f}) -> target "
            f">= {floor:,.0f} events/s and >= 50 % of raw: {'PASS' if ok else 'MISS'}")


def median_rate(results: list[Result]) -> float:
    return float(statistics.median(r.rate for r in results))


def run(args: argparse.Namespace, workdir: Path) -> int:
    bodies = make_bodies(args.count, args.devices, args.seed)
    size = len(encoded(bodies[0][1], 1))
    messages = outgoing(bodies, args.life_safety, args.seed)
    print(f"outbox throughput: {args.count} messages of {size} bytes at QoS 1, MQTT "
          f"{args.protocol}, {args.devices} devices, {args.life_safety:.0%} life-safety")
    print(f"machine: {machine()}")
    check_quiet({os.getpid()})
    broker = Mosquitto(workdir).start()
    rounds: dict[str, list[Result]] = {"raw": [], "full": [], "normal": []}
    replays: list[Result] = []
    try:
        for i in range(args.repeat):
            if args.repeat > 1:
                print(f"round {i + 1} of {args.repeat}")
            rounds["raw"].append(raw_paho(broker, bodies, args))
            show(rounds["raw"][-1])
            rounds["full"].append(durable(broker, messages, args, workdir, synchronous="full"))
            show(rounds["full"][-1])
            rounds["normal"].append(durable(broker, messages, args, workdir,
                                            synchronous="normal"))
            show(rounds["normal"][-1])
        if not args.skip_backlog:
            for rate in (None, args.high_replay_rate):
                replays.append(durable(broker, messages, args, workdir, synchronous="full",
                                       backlog=True, replay_rate=rate))
                show(replays[-1])
    finally:
        broker.stop()
    print()
    raw_rate = median_rate(rounds["raw"])
    if args.repeat > 1:
        print(f"medians of {args.repeat} rounds:")
    print(verdict("durable FULL (default)", median_rate(rounds["full"]), raw_rate, args.target))
    print(verdict("durable NORMAL", median_rate(rounds["normal"]), raw_rate, args.target))
    if replays:
        print(f"backlog replay is paced at Outbox limits replay_rate (default "
              f"{OutboxLimits().replay_rate:g} events/s): {replays[0].rate:,.0f} events/s at "
              f"the default, {replays[1].rate:,.0f} events/s at replay_rate "
              f"{args.high_replay_rate:g}")
    finished = all(r.seconds for results in (*rounds.values(), replays) for r in results)
    return 0 if finished else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-n", "--count", type=int, default=50_000, help="messages per phase")
    parser.add_argument("--protocol", choices=["3.1.1", "5"], default="3.1.1",
                        help="MQTT version, for raw paho and MqttLink alike")
    parser.add_argument("--devices", type=int, default=100, help="device keys to spread over")
    parser.add_argument("--life-safety", type=float, default=0.03, metavar="FRACTION",
                        help="share of messages flagged life-safety")
    parser.add_argument("--raw-inflight", type=int, default=20,
                        help="paho in-flight window of the raw publisher (paho's default, and "
                        "what MqttLink sets)")
    parser.add_argument("--high-replay-rate", type=float, default=1_000_000.0,
                        help="replay_rate of the second backlog run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of raw + durable FULL + durable NORMAL (verdicts use medians)")
    parser.add_argument("--skip-backlog", action="store_true", help="skip the backlog replays")
    parser.add_argument("--target", type=float, default=10_000.0, help="events/s target")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="give up on a phase after this long")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # each phase ends with a normal disconnect, which MqttLink reports as a lost broker
    logging.getLogger("gateway.mqtt_link").setLevel(logging.ERROR)
    # paho sometimes logs "Client is not connected" as its loop thread ends after disconnect()
    logging.getLogger("gateway.mqtt.paho").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
