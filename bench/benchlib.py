"""Parts shared by the benchmark scripts: a private mosquitto, free ports, process accounting,
and for the latency scripts the simulators, the gateway process and a timing subscriber.

Nothing here asserts anything: the scripts print figures and leave judging them to the reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import paho.mqtt.client as mqtt

from simulators.broker_cluster import free_ports as free_ports  # the benches choose ports with it

if TYPE_CHECKING:
    from simulators.dialects import Dialect

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# A schedule player: runs on the simulators' event loop, gets the campus and what ``play`` was
# given, and returns what it recorded (picklable: it crosses the process boundary).
Player = Callable[..., Coroutine[Any, Any, Any]]
# Called with the campus once it is built and before its devices go on the wire.
Setup = Callable[[Any], None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])



def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Mosquitto:
    """A private mosquitto on a free loopback port, configured from a file in ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(self.binary).exists():
            raise SystemExit("mosquitto is not installed (make system-deps installs it)")
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        # No limits on queued or in-flight messages towards subscribers: none may be dropped.
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self) -> Mosquitto:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, in seconds (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        # the command name may contain spaces: fields are counted after its closing parenthesis
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class CpuWindow:
    """CPU used by one process over a wall-clock window, as % of one core."""

    pid: int
    cpu0: float = 0.0
    wall0: float = 0.0
    cpu1: float = 0.0
    wall1: float = 0.0

    def start(self) -> CpuWindow:
        self.cpu0, self.wall0 = cpu_seconds(self.pid), time.monotonic()
        return self

    def stop(self) -> CpuWindow:
        self.cpu1, self.wall1 = cpu_seconds(self.pid), time.monotonic()
        return self

    @property
    def percent(self) -> float:
        wall = self.wall1 - self.wall0
        return 100.0 * (self.cpu1 - self.cpu0) / wall if wall > 0 else 0.0


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, summed over cores (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


@dataclass
class MachineWindow:
    """CPU used on the whole machine over a window, to see load from outside the benchmark."""

    busy0: float = 0.0
    steal0: float = 0.0
    wall0: float = 0.0
    busy1: float = 0.0
    steal1: float = 0.0
    wall1: float = 0.0

    def start(self) -> MachineWindow:
        (self.busy0, self.steal0), self.wall0 = machine_busy_seconds(), time.monotonic()
        return self

    def stop(self) -> MachineWindow:
        (self.busy1, self.steal1), self.wall1 = machine_busy_seconds(), time.monotonic()
        return self

    @property
    def percent(self) -> float:
        """Busy CPU of all processes, as % of one core (200 % = both cores of two)."""
        wall = self.wall1 - self.wall0
        return 100.0 * (self.busy1 - self.busy0) / wall if wall > 0 else 0.0

    @property
    def steal(self) -> float:
        wall = self.wall1 - self.wall0
        return 100.0 * (self.steal1 - self.steal0) / wall if wall > 0 else 0.0

    def describe(self, ours: float) -> str:
        """How busy the machine was, and how much of that was not ``ours`` (% of a core)."""
        cores = os.cpu_count() or 1
        others = max(0.0, self.percent - ours)
        return (f"machine: {self.percent:.0f} % busy of {cores * 100} % ({cores} cores); "
                f"outside this benchmark {others:.0f} %; hypervisor steal {self.steal:.0f} %")


class OutsideLoad:
    """CPU the machine spent over a window outside the given processes (the benchmark's own:
    gateway, simulators, mosquitto, this script), as % of one core: the figures of a window
    with much of it are the worse for it."""

    def __init__(self, pids: Sequence[int]) -> None:
        self._ours = [CpuWindow(pid) for pid in pids]
        self._machine = MachineWindow()

    def start(self) -> OutsideLoad:
        for window in self._ours:
            window.start()
        self._machine.start()
        return self

    def stop(self) -> OutsideLoad:
        for window in self._ours:
            window.stop()
        self._machine.stop()
        return self

    @property
    def percent(self) -> float:
        return max(0.0, self._machine.percent - sum(window.percent for window in self._ours))


def others_running(exclude: set[int], threshold: float = 20.0) -> list[str]:
    """Processes not in ``exclude`` that used more than ``threshold`` % of a core over 0.5 s."""
    def sample() -> dict[int, tuple[float, str]]:
        out: dict[int, tuple[float, str]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in exclude:
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                out[int(entry)] = (cpu_seconds(int(entry)), cmd[:80])
            except (OSError, IndexError, ValueError):
                continue
        return out

    first = sample()
    time.sleep(0.5)
    second = sample()
    busy = []
    for pid, (cpu, cmd) in second.items():
        if pid in first and (cpu - first[pid][0]) / 0.5 * 100 > threshold:
            busy.append(f"{pid} {cmd}")
    return busy


def check_quiet(exclude: set[int]) -> None:
    """Say so when other programs are busy: the figures are then not this machine at rest."""
    busy = others_running(exclude)
    if busy:
        print("WARNING: other busy processes on this machine, figures will be lower than at rest:")
        for line in busy:
            print(f"  {line}")


def machine() -> str:
    """One line about the machine the figures come from."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model or 'unknown CPU'}"


# -- the latency scripts: simulators, subscriber, gateway, figures -------------------------------


def quiet_logging() -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    for chatty in ("httpx", "uvicorn.error"):  # a line per request, per server start
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _sim_child(site: str, conn: Any, player: Player, setup: Setup | None) -> None:
    """Entry point of the simulator process: serve the devices, play schedules on request."""
    from gateway.config import load_site
    from simulators.campus import SimulatedCampus

    quiet_logging()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this stops

    async def main() -> None:
        campus = SimulatedCampus(load_site(site))
        if setup is not None:
            setup(campus)
        await campus.start()
        loop = asyncio.get_running_loop()
        conn.send(("ready", None))
        try:
            while True:
                message = await loop.run_in_executor(None, conn.recv)
                if message[0] == "play":
                    conn.send(("played", await player(campus, *message[1])))
                else:
                    break
        finally:
            await campus.stop()

    asyncio.run(main())


class SimProcess:
    """The simulated devices in a child process: the subscriber here never waits on their GIL.

    ``player`` and ``setup`` must be module-level functions (the child is spawned, so they are
    passed by name); ``play(*args)`` runs ``player(campus, *args)`` on the child's event loop.
    """

    def __init__(self, site: Path, player: Player, setup: Setup | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_sim_child, args=(str(site), child, player, setup),
                                 daemon=True, name="campus-simulators")
        self._proc.start()
        deadline = time.monotonic() + 60
        while not self._conn.poll(0.2):
            if not self._proc.is_alive():
                raise RuntimeError("the simulator process failed to start (see above)")
            if time.monotonic() > deadline:
                raise RuntimeError("the simulators did not start within 60 s")
        kind, _ = self._conn.recv()
        assert kind == "ready"

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def play(self, *args: Any, timeout: float) -> Any:
        self._conn.send(("play", args))
        if not self._conn.poll(timeout):
            raise RuntimeError("the simulators did not finish the schedule in time")
        kind, result = self._conn.recv()
        assert kind == "played"
        return result

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(("stop", None))
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)


class SimThread:
    """The simulated devices on an event loop in a thread of this process."""

    def __init__(self, site: Path, player: Player, setup: Setup | None = None) -> None:
        from gateway.config import load_site
        from simulators.campus import SimulatedCampus

        self.campus = SimulatedCampus(load_site(site))
        if setup is not None:
            setup(self.campus)
        self._player = player
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="simulators")
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.campus.start(), self.loop).result(60)

    @property
    def pid(self) -> int:
        return os.getpid()

    def play(self, *args: Any, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(self._player(self.campus, *args), self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.campus.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class Recorder:
    """A paho subscriber that stamps each event on arrival and tracks device availability.

    Subscribes to ``event_filter`` (e.g. ``campus/+/event/panic/#``) and to the retained
    ``campus/+/device/+/availability`` topics.
    """

    def __init__(self, port: int, event_filter: str) -> None:
        self.events: list[tuple[float, bytes]] = []
        self.online: set[str] = set()
        self._changed = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"bench-subscriber-{os.getpid()}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(
            [(event_filter, 1), ("campus/+/device/+/availability", 1)])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the subscriber could not subscribe")

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        now = time.time()  # first thing: the receive time
        if "/event/" in m.topic:
            self.events.append((now, bytes(m.payload)))
        elif m.payload:
            doc = json.loads(m.payload)
            with self._changed:
                (self.online.add if doc.get("online") else self.online.discard)(doc["device"])
                self._changed.notify_all()

    def wait_online(self, devices: set[str], timeout: float, alive: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not devices <= self.online and time.monotonic() < deadline and alive():
                self._changed.wait(0.2)
            return devices <= self.online

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Gateway:
    """The gateway as its own process: ``python -m gateway.cli run -c site.yaml``."""

    def __init__(self, site: Path) -> None:
        self.log = site.parent / "gateway.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "run", "-c", str(site)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, patience: float = 10.0) -> None:
        """SIGTERM; if it still runs after ``patience`` s (its own stop drains the outbox for
        at most 5 s), say so and send a second SIGTERM, which the gateway takes as "exit now"."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(patience)
            return
        except subprocess.TimeoutExpired:
            pass
        print(f"WARNING: the gateway (pid {self.proc.pid}) did not stop within {patience:g} s "
              "of SIGTERM; sending a second SIGTERM (forced exit). The figures above are not "
              "affected.")
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def event_time(body: dict[str, Any]) -> float:
    """The CloudEvents ``time`` of an event (stamped by the gateway), as a POSIX timestamp."""
    return datetime.fromisoformat(body["time"].replace("Z", "+00:00")).timestamp()


def latency_row(name: str, values: np.ndarray, width: int = 28) -> str:
    """One line of percentiles (the values are in ms)."""
    if not len(values):
        return f"  {name:<{width}} (no samples)"
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return (f"  {name:<{width}} p50 {p50:7.1f}   p95 {p95:7.1f}   p99 {p99:7.1f}   "
            f"max {values.max():7.1f}   min {values.min():6.1f}")


# -- per-dialect figures -------------------------------------------------------------------------


def dialects_of(family: str, chosen: str | None = None) -> list[Dialect]:
    """The dialects the simulators speak for ``family`` (whatever is registered when the bench
    runs, so a new one is measured without touching the bench), or the comma-separated
    ``chosen`` among them; SystemExit naming an unknown one and those there are."""
    from simulators.dialects import families

    known = families().get(family, {})
    if chosen is None:
        return list(known.values())
    names = [name.strip() for name in chosen.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"no {family} dialect {', '.join(unknown)} "
                         f"(dialects: {', '.join(known) or 'none'})")
    return [known[name] for name in names]


def speaking(stanza: dict[str, Any], dialect: Dialect | None) -> dict[str, Any]:
    """``stanza`` with its simulator speaking ``dialect`` and the fields the dialect requires of
    the gateway's stanza (e.g. ``dialect: isapi``); ``None``: the stanza as it is."""
    if dialect is None:
        return stanza
    block = {**(stanza.get("simulator") or {}), "dialect": dialect.name}
    return {**stanza, **dialect.requires, "simulator": block}


def percentiles(values: np.ndarray) -> str:
    """p50/p95/p99 of ``values`` (ms) as one table cell."""
    if not len(values):
        return "no samples"
    return "/".join(f"{v:.1f}" for v in np.percentile(values, [50, 95, 99]))


def lost(dialect: Dialect | None, needs: Sequence[str]) -> list[str]:
    """Which of the capabilities ``needs`` the dialect's record says are degraded (the gateway
    reports them unavailable against it, so there is nothing of them to measure)."""
    return [need for need in needs if dialect is not None and need in dialect.degraded]


def figures_cell(dialect: Dialect | None, needs: Sequence[str],
                 values: np.ndarray | None) -> str:
    """A table cell of latencies that need ``needs`` of the device: "n/a (degraded: ...)" rather
    than a number when the dialect degrades any of them, "not played" when nothing was played,
    else p50/p95/p99."""
    degraded = lost(dialect, needs)
    if degraded:
        return f"n/a (degraded: {', '.join(degraded)})"
    return "not played" if values is None else percentiles(values)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``rows`` under ``header``, indented, each column as wide as its widest cell."""
    widths = [max(len(row[n]) for row in [header, *rows]) for n in range(len(header))]
    return "\n".join("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                               strict=True))
                     .rstrip() for row in [header, *rows])
