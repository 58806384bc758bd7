"""Access latency: decisions with 100,000 credentials, card -> relay over OSDP and HTTP push ->
event on MQTT per reader / controller dialect, and the morning rush. Prints figures; judges
nothing.

Parts (``--only`` runs one):

* **decision**: the access control in this process with 100,000 credentials in its store: the
  decision alone (lookup, checks, events put), and until its event is committed to disk.
* **osdp**: 8 simulated OSDP readers (libosdp PDs) on one bus over TCP, the gateway (libosdp CP)
  as its own process, a private mosquitto. A card is presented at a reader (``time.time()``
  just before the PD submits the card read); the relay pulse is seen at the PD when its output
  command arrives (polled every millisecond on the simulators' loop). The grant's event on MQTT
  is matched by card number: its receive time minus the event's ``time`` (stamped when the
  driver read the card) is "decision -> MQTT". Once per reader dialect the simulator speaks
  (``--reader-dialects a,b`` to choose; the standard reader alone when it speaks none), every
  reader speaking it, one table.
* **http**: a simulated controller that decides by itself pushes each card to the gateway's
  receiver; push (just before the simulator sends it) -> event at the subscriber. Once per
  controller dialect (``--gate-dialects a,b``), the controller's stanza written as the dialect
  requires (ISAPI or webhook), one table.
* **rush**: 2,000 students through the 8 lanes (``--rush-students``, ``--rush-seconds``; the
  issue's 10 minutes is ``--rush-seconds 600``); every event must arrive; gateway CPU and RSS.

Each dialect's run (and the rush) has a site of its own: a private mosquitto, the simulators in
a child process, the gateway with a copy of the same 100,000-credential state, the subscriber
here.

    .venv/bin/python bench/access_latency.py              # every part
    .venv/bin/python bench/access_latency.py --only osdp
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
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
    event_time,
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

LANES = 8
FIRST_CARD = 1_000_000
KEYS = {f"BENCH_OSDP_KEY_{n}": os.urandom(16).hex() for n in range(LANES)}
PUSH_PASSWORD, ADMIN_PASSWORD = os.urandom(12).hex(), os.urandom(12).hex()
WEBHOOK_SECRET = os.urandom(16).hex()


# -- decision, in this process ------------------------------------------------------------------


async def decisions(workdir: Path, holders: int, samples: int) -> None:
    from gateway.access.config import Access
    from gateway.access.control import AccessControl
    from gateway.access.credentials import CredentialStore
    from gateway.access.ledger import Ledger
    from gateway.access.modes import GateModes
    from gateway.access.schedules import Schedules
    from gateway.alarms import AlarmStore
    from gateway.bus import Bus
    from gateway.config import Outbox as Limits
    from gateway.kernel.access import AccessRequest
    from gateway.kernel.events import Event
    from gateway.outbox import Outbox, state_database
    from gateway.publisher import EventPublisher
    from gateway.topics import Topics

    access = Access.model_validate({
        "gates": [{"id": f"lane-{n}", "area": "campus"} for n in range(LANES)],
        "areas": [{"id": "campus", "anti_passback": "soft"}],
        "schedules": [{"id": "always", "windows": [{"days": ["mon", "tue", "wed", "thu", "fri",
                                                              "sat", "sun"]}]}],
        "category_schedules": {"student": "always"},
    })
    database = state_database(workdir)
    outbox = Outbox(database, Limits())
    outbox.start()
    bus = Bus()
    bus.subscribe(Event, EventPublisher(outbox, Topics("campus", "s", "gw"), lambda: False).publish)
    store = AlarmStore(database, outbox)
    schedules = Schedules(access, "Asia/Shanghai")

    async def no_device(*_: Any) -> dict[str, Any]:
        return {"confirmed": True}

    modes = GateModes(access, schedules, store, {}, no_device, bus.publish, outbox.unit, "gw")
    credentials = CredentialStore(workdir)
    control = AccessControl(access, schedules, credentials, Ledger.load(database, outbox),
                            modes, bus.publish, outbox.unit, outbox.durable, no_device, {}, "gw")
    started = time.perf_counter()
    await load_credentials(credentials, holders)
    loaded = time.perf_counter() - started
    rng = random.Random(7)
    inside: list[float] = []
    committed: list[float] = []
    for n in range(samples):
        code = str(FIRST_CARD + rng.randrange(holders)) if n % 10 else "999"
        request = AccessRequest("reader", "lane", f"lane-{n % LANES}", "in" if n % 2 else "out",
                                code, time=datetime.now(UTC))
        t0 = time.perf_counter()
        with outbox.unit():
            control._decide(request)  # the decision alone: lookup, checks, events put
        t1 = time.perf_counter()
        await outbox.durable()  # and until its event is on disk
        t2 = time.perf_counter()
        inside.append((t1 - t0) * 1000)
        committed.append((t2 - t0) * 1000)
    print(f"decision: {holders:,} credentials (loaded in {loaded:.1f} s), {samples} requests one "
          "at a time, 1 in 10 unknown, events committed with synchronous=full")
    print(latency_row("decision (ms)", np.array(inside)))
    print(latency_row("decision + on disk (ms)", np.array(committed)))
    outbox.close(2.0)
    credentials.close()


async def load_credentials(store: Any, holders: int) -> None:
    from gateway.access.credentials import CredentialRecord, PersonRecord, snapshot_parts

    people = [PersonRecord(id=f"S{n:06d}", category="student") for n in range(holders)]
    cards = [CredentialRecord(code=str(FIRST_CARD + n), person_id=f"S{n:06d}")
             for n in range(holders)]
    for part in snapshot_parts(1, people, cards, per_part=holders * 2):
        await store.snapshot(part)


# -- the site for the OSDP, HTTP and rush parts -------------------------------------------------


def osdp_device(dialect: Dialect | None) -> dict[str, Any]:
    """The 8 lanes' readers on one bus, every one speaking ``dialect`` (None: the standard)."""
    readers = [speaking({"id": f"lane-{n}", "address": n + 1, "gate": "main-gate",
                         "direction": "in", "key": {"env": f"BENCH_OSDP_KEY_{n}"},
                         "relay": {"output": 0, "pulse": "0.5s"},
                         "card_format": {"type": "raw", "length": 32, "bit_count": 32}}, dialect)
               for n in range(LANES)]
    return {"id": "lanes", "driver": "osdp", "tcp": {"host": "127.0.0.1", "port": free_port()},
            "readers": readers}


def controller_device(dialect: Dialect) -> dict[str, Any]:
    """One controller that decides by itself at the vehicle gate, its stanza as ``dialect``
    needs it (its ``requires``: ISAPI with digest push auth, or a signed webhook). One door with
    no reader number: a face terminal has no other, and every dialect gets the same."""
    doors = [{"door": 1, "gate": "vehicle-gate", "direction": "in"}]
    command = f"http://127.0.0.1:{free_port()}"
    if dialect.requires.get("dialect") == "webhook":
        stanza: dict[str, Any] = {
            "id": "vehicle", "mode": "decides", "identity": {"serial": "BENCH-VEHICLE-1"},
            "secret": {"env": "BENCH_WEBHOOK"}, "command": {"url": command}, "doors": doors}
    else:
        stanza = {
            "id": "vehicle", "dialect": "isapi", "mode": "decides",
            "identity": {"peer": "127.0.0.1"},
            "push_auth": {"username": "vehicle", "password": {"env": "BENCH_PUSH"}},
            "command": {"url": command, "username": "admin",
                        "password": {"env": "BENCH_ADMIN"}},
            "doors": doors}
    return {"id": "controllers", "driver": "http_gate",
            "listen": {"host": "127.0.0.1", "port": free_port()},
            "controllers": [speaking(stanza, dialect)]}


def write_site(workdir: Path, broker_url: str, devices: list[dict[str, Any]]) -> Path:
    site = {
        "site": {"id": "school-1"},
        "gateway": {"id": "gw1", "state_dir": str(workdir / "state"), "stats_interval": "60s"},
        "mqtt": {"url": broker_url, "protocol": "5"},
        "devices": devices,
        "access": {"gates": [{"id": "main-gate"}, {"id": "vehicle-gate"}],
                   "privacy": {"full_credentials_in_events": True}},
        "flood": {"burst": 10_000, "per_second": 1000},
    }
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    return path


# -- players: run on the simulators' event loop, in their process -------------------------------


async def play(campus: Any, kind: str, plan: list[tuple[str, int, float]]) -> list[Any]:
    """``plan``: (reader or controller, card, seconds after start). Returns what was done."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    done: list[Any] = []
    if kind == "hello":  # a heartbeat: a controller is online from its first request
        campus.device("controllers").controller("vehicle").heartbeat()
    elif kind == "osdp":  # one at a time, each waiting for its relay
        for reader_id, card, _ in plan:
            reader = campus.device(reader_id)
            before = reader.pulses(0)
            t0 = time.time()
            await reader.present_card(card)
            pulsed = None
            while time.time() - t0 < 10.0:  # a bus of slow readers takes seconds
                if reader.pulses(0) > before:
                    pulsed = time.time()
                    break
                await asyncio.sleep(0.001)
            done.append((reader_id, card, t0, pulsed))
            await asyncio.sleep(0.02)
    elif kind == "http":
        controller = campus.device("controllers").controller("vehicle")
        for _, card, _ in plan:  # one push at a time: the controller sends them in order
            before = controller.counters.accepted
            t0 = time.time()
            controller.present_card(str(card), 1, 1)
            while controller.counters.accepted == before and time.time() - t0 < 5.0:
                await asyncio.sleep(0.001)
            done.append(("vehicle", card, t0, time.time()))
            await asyncio.sleep(0.02)
    else:  # the rush: on schedule, never waiting
        tasks = []
        for reader_id, card, at in plan:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            t0 = time.time()
            tasks.append(asyncio.create_task(campus.device(reader_id).present_card(card)))
            done.append((reader_id, card, t0, None))
        await asyncio.gather(*tasks)
    return done


# -- the runs -----------------------------------------------------------------------------------


def received(recorder: Recorder, types: tuple[str, ...]) -> dict[str, tuple[float, dict[str, Any]]]:
    """Credential -> (receive time, event) of every decision event so far (the first of each)."""
    out: dict[str, tuple[float, dict[str, Any]]] = {}
    for when, payload in list(recorder.events):
        body = json.loads(payload)
        if body["type"] in types:
            out.setdefault(body["data"]["credential"], (when, body))
    return out


def wait_for(recorder: Recorder, cards: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = received(recorder, ("campus.access.granted", "campus.access.denied"))
        if cards <= set(got):
            return got
        time.sleep(0.1)
    return received(recorder, ("campus.access.granted", "campus.access.denied"))


def osdp_part(sim: SimProcess, recorder: Recorder, count: int) -> dict[str, Any]:
    plan = [(f"lane-{n % LANES}", FIRST_CARD + 50_000 + n, 0.0) for n in range(count)]
    done = sim.play("osdp", plan, timeout=count * 11 + 30)
    got = wait_for(recorder, {str(card) for _, card, *_ in done}, 30)
    relay = [(p - t0) * 1000 for _, _, t0, p in done if p is not None]
    to_mqtt, decided = [], []
    for _, card, t0, _ in done:
        if str(card) in got:
            when, body = got[str(card)]
            to_mqtt.append((when - event_time(body)) * 1000)
            decided.append((when - t0) * 1000)
    return {"relay": np.array(relay), "decided": np.array(decided), "to_mqtt": np.array(to_mqtt),
            "missing": f"{count - len(relay)}/{count - len(decided)}"}


def http_part(sim: SimProcess, recorder: Recorder, count: int) -> dict[str, Any]:
    plan = [("vehicle", FIRST_CARD + 80_000 + n, 0.0) for n in range(count)]
    done = sim.play("http", plan, timeout=count + 30)
    got = wait_for(recorder, {str(card) for _, card, *_ in done}, 30)
    push = [(got[str(card)][0] - t0) * 1000 for _, card, t0, _ in done if str(card) in got]
    answered = [(t1 - t0) * 1000 for _, _, t0, t1 in done]
    return {"push": np.array(push), "answered": np.array(answered),
            "missing": str(count - len(push))}


def rush_part(sim: SimProcess, recorder: Recorder, gateway: Gateway, students: int,
              seconds: float) -> None:
    rng = random.Random(11)
    times = sorted(rng.uniform(0, seconds) for _ in range(students))
    plan = [(f"lane-{n % LANES}", FIRST_CARD + n, at) for n, at in enumerate(times)]
    cpu = CpuWindow(gateway.proc.pid).start()
    started = time.monotonic()
    done = sim.play("rush", plan, timeout=seconds + 60)
    got = wait_for(recorder, {str(card) for _, card, *_ in done}, 60)
    cpu.stop()
    cards = {str(card) for _, card, *_ in done}
    missing = len(cards - set(got))
    granted = sum(1 for c in cards if c in got and got[c][1]["type"] == "campus.access.granted")
    delays = [(got[str(card)][0] - t0) * 1000 for _, card, t0, _ in done if str(card) in got]
    print(f"rush: {students} students through {LANES} lanes in {seconds:g} s "
          f"({students / seconds:.1f}/s); {len(cards) - missing} decision events received, "
          f"{granted} grants, missing {missing}{'   !!! MISSING !!!' if missing else ''}; took "
          f"{time.monotonic() - started:.1f} s")
    print(latency_row("card -> event on MQTT (ms)", np.array(delays)))
    print(f"  gateway CPU {cpu.percent:.1f} % of one core, RSS {rss_mib(gateway.proc.pid):.1f} MiB")


def credential_state(workdir: Path, holders: int) -> Path:
    """A gateway state directory whose credential store holds ``holders`` students, built
    once and copied into every run's site."""
    from gateway.access.credentials import CredentialStore
    from gateway.outbox import state_database

    state = workdir / "credential-state"
    state_database(state)
    store = CredentialStore(state)
    asyncio.run(load_credentials(store, holders))
    store.close()
    return state


@contextlib.contextmanager
def lanes_running(workdir: Path, state: Path, devices: list[dict[str, Any]]
                  ) -> Iterator[tuple[SimProcess, Recorder, Gateway, OutsideLoad]]:
    """A private mosquitto, the simulators of ``devices`` and the gateway of a site with them
    (and a copy of ``state``), every reader and controller online, and the CPU used outside
    them from then on; all stopped after. RuntimeError when they do not start or come online."""
    workdir.mkdir(parents=True)
    shutil.copytree(state, workdir / "state")
    with contextlib.ExitStack() as running:
        broker = Mosquitto(workdir).start()
        running.callback(broker.stop)
        site = write_site(workdir, broker.url, devices)
        sim = SimProcess(site, play)
        running.callback(sim.stop)
        recorder = Recorder(broker.port, "campus/+/event/access/#")
        running.callback(recorder.close)
        gateway = Gateway(site)
        running.callback(gateway.stop)
        wanted = {part["id"] for device in devices
                  for part in [*device.get("readers", []), *device.get("controllers", [])]}
        if any(device.get("controllers") for device in devices):
            sim.play("hello", [], timeout=10)
        if not recorder.wait_online(wanted, 60, gateway.alive):
            offline = ", ".join(sorted(wanted - recorder.online))
            raise RuntimeError(f"not online within 60 s: {offline}; gateway log:\n"
                               f"{gateway.tail()}")
        time.sleep(1.0)
        yield sim, recorder, gateway, OutsideLoad([gateway.proc.pid, sim.pid, broker.pid,
                                                   os.getpid()]).start()


# what each column of the osdp table needs of the reader: a dialect that degrades it gets "n/a"
OSDP_COLUMNS = {"card -> relay pulse p50/p95/p99": ("cards", "relay"),
                "card -> event on MQTT p50/p95/p99": ("cards",),
                "decision -> MQTT p50/p95/p99": ("cards",)}


def osdp_table(args: argparse.Namespace, workdir: Path, state: Path) -> None:
    """The osdp part once per reader dialect the simulator speaks (the standard reader alone
    when it speaks none), one table. A dialect that degrades everything measured here (its
    readers are reported offline) is not run: its row says what it degrades."""
    chosen: list[Dialect | None] = [*dialects_of("osdp", args.reader_dialects)]
    if not chosen:
        print("osdp: the reader simulator speaks no dialects (none registered in "
              "simulators/dialects.py families()): the standard reader only")
        chosen = [None]
    rows, notes = [], []
    for dialect in chosen:
        name = dialect.name if dialect is not None else "(standard reader)"
        degraded = ", ".join(dialect.degraded) if dialect is not None else ""
        got: dict[str, Any] = {}
        if all(lost(dialect, needs) for needs in OSDP_COLUMNS.values()):
            notes.append(f"{name}: not run; what works against it: "
                         f"{dialect.works if dialect else 'everything'}")
        else:
            try:
                with lanes_running(workdir / f"osdp-{name.strip('()')}", state,
                                   [osdp_device(dialect)]) as (sim, recorder, _, outside):
                    got = osdp_part(sim, recorder, args.cards)
                    got["outside"] = f"{outside.stop().percent:.0f} %"
            except RuntimeError as exc:
                notes.append(f"{name}: did not run: {exc}")
                rows.append([name, "did not run (see below)", "", "", "", "",
                             degraded or "nothing"])
                continue
        cells = [figures_cell(dialect, needs, got.get(key)) for needs, key in
                 zip(OSDP_COLUMNS.values(), ("relay", "decided", "to_mqtt"), strict=True)]
        rows.append([name, *cells, got.get("missing", "-"), got.get("outside", "-"),
                     degraded or "nothing"])
    print(f"osdp: {args.cards} cards per reader dialect at {LANES} readers speaking it on one "
          "bus (TCP, secure channel), one at a time; latencies in ms; outside load: CPU used "
          "outside this benchmark during the cards, % of a core")
    print(table(["reader dialect", *OSDP_COLUMNS, "missing relay/event", "outside load",
                 "degraded"], rows))
    for note in notes:
        print(f"  {note}")


def http_table(args: argparse.Namespace, workdir: Path, state: Path) -> None:
    """The http part once per gate controller dialect the simulator speaks, one table."""
    rows, failures = [], []
    for dialect in dialects_of("http_gate", args.gate_dialects):
        degraded = ", ".join(dialect.degraded) or "nothing"
        try:
            with lanes_running(workdir / f"http-{dialect.name}", state,
                               [controller_device(dialect)]) as (sim, recorder, _, outside):
                got = http_part(sim, recorder, args.pushes)
                got["outside"] = f"{outside.stop().percent:.0f} %"
        except RuntimeError as exc:
            failures.append(f"{dialect.name}: {exc}")
            rows.append([dialect.name, "did not run (see below)", "", "", "", degraded])
            continue
        rows.append([dialect.name, percentiles(got["push"]), percentiles(got["answered"]),
                     got["missing"], got["outside"], degraded])
    print(f"http: {args.pushes} pushes per controller dialect, one at a time, from a controller "
          "that decides by itself (ISAPI: digest auth, a challenge each time; webhook: "
          "HMAC-signed); latencies in ms; outside load: CPU used outside this benchmark during "
          "the pushes, % of a core")
    print(table(["controller dialect", "push -> event on MQTT p50/p95/p99",
                 "push -> answered p50/p95/p99", "missing events", "outside load", "degraded"],
                rows))
    for failure in failures:
        print(f"  {failure}")


def lanes(args: argparse.Namespace, workdir: Path) -> int:
    os.environ.update(KEYS, BENCH_PUSH=PUSH_PASSWORD, BENCH_ADMIN=ADMIN_PASSWORD,
                      BENCH_WEBHOOK=WEBHOOK_SECRET)
    check_quiet({os.getpid()})
    workdir.mkdir(parents=True, exist_ok=True)
    state = credential_state(workdir, args.credentials)
    if args.only in (None, "osdp"):
        osdp_table(args, workdir, state)
    if args.only in (None, "http"):
        http_table(args, workdir, state)
    if args.only in (None, "rush"):
        try:
            with lanes_running(workdir / "rush", state, [osdp_device(None)]) as (
                    sim, recorder, gateway, _):
                rush_part(sim, recorder, gateway, args.rush_students, args.rush_seconds)
        except RuntimeError as exc:
            print(f"rush: did not run: {exc}")
            return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--only", choices=["decision", "osdp", "http", "rush"])
    parser.add_argument("--credentials", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--cards", type=int, default=100,
                        help="osdp: cards per reader dialect, one at a time")
    parser.add_argument("--reader-dialects", help="osdp: comma-separated reader dialects "
                        "(default: every one the reader simulator speaks)")
    parser.add_argument("--pushes", type=int, default=200, help="http: pushes per dialect")
    parser.add_argument("--gate-dialects", help="http: comma-separated controller dialects "
                        "(default: every one the controller simulator speaks)")
    parser.add_argument("--rush-students", type=int, default=2000)
    parser.add_argument("--rush-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    quiet_logging()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp:
        if args.only in (None, "decision"):
            asyncio.run(decisions(Path(tmp) / "decision", args.credentials, args.decisions))
        if args.only != "decision":
            return lanes(args, Path(tmp) / "lanes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
