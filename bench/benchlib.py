"""Parts shared by the benchmark scripts: a private mosquitto, free ports, process accounting.

Nothing here asserts anything: the scripts print figures and leave judging them to the reader.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open while choosing, so none repeats)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


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
