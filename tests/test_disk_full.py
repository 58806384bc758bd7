"""A full disk under the state dir: an alarm of its own, events go on flagged durable: false,
and as soon as there is room the outbox stores again by itself. On a small tmpfs, mounted in a
private mount namespace (so the test needs root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Mosquitto, Subscriber
from tests.rig import SimulatorThread, site_file

pytestmark = pytest.mark.skipif(os.getuid() != 0 or not shutil.which("unshare"),
                                reason="a private tmpfs needs root (unshare -m, mount)")

CONTROL = """
mount -t tmpfs -o size=3m tmpfs "$STATE" || exit 97
"$PYTHON" -m gateway.cli run -c "$SITE" >> "$LOG" 2>&1 &
gateway=$!
while read -r command < "$FIFO"; do
  case "$command" in
    fill) dd if=/dev/zero of="$STATE/ballast" bs=16k 2>/dev/null; echo filled > "$DONE" ;;
    free) rm -f "$STATE/ballast"; echo freed > "$DONE" ;;
    stop) kill -TERM "$gateway"; wait "$gateway"; echo "stopped $?" > "$DONE"; exit 0 ;;
  esac
done
"""


class DiskRig:
    def __init__(self, tmp_path: Path, site: Path) -> None:
        self.fifo = tmp_path / "control"
        self.done = tmp_path / "done"
        self.log = tmp_path / "gateway.log"
        os.mkfifo(self.fifo)
        state = yaml.safe_load(site.read_text())["gateway"]["state_dir"]
        Path(state).mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", CONTROL],
            env={**os.environ, "STATE": state, "PYTHON": sys.executable, "SITE": str(site),
                 "LOG": str(self.log), "FIFO": str(self.fifo), "DONE": str(self.done),
                 "PYTHONUNBUFFERED": "1"})

    def say(self, command: str) -> str:
        self.done.unlink(missing_ok=True)
        with self.fifo.open("w") as fifo:
            fifo.write(command + "\n")
        deadline = time.monotonic() + 30
        while not self.done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.done.read_text().strip()


def test_a_full_disk_is_an_alarm_events_go_on_and_storing_resumes_by_itself(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=1)
    sims = SimulatorThread(site)
    rig = DiskRig(tmp_path, site)
    try:
        subscriber.wait_event("device.online", timeout=20)
        sims.press("io-0", "btn-a")
        (durable,) = subscriber.wait_event("panic.pressed", timeout=10)
        assert "durable" not in durable

        assert rig.say("fill") == "filled"
        sims.release("io-0", "btn-a")
        sims.press("io-0", "btn-b")
        (full,) = subscriber.wait_event("gateway.storage_full", timeout=15)
        assert full["severity"] == "major" and "full" in full["data"]["reason"]
        (pressed,) = subscriber.wait_event("panic.pressed", timeout=15, point="btn-b")
        assert pressed["durable"] is False
        subscriber.wait_for(lambda _m: any(
            e["data"]["alarm"]["condition"] == "storage_full"
            for e in subscriber.events("alarm.raised")), 10, "a storage_full alarm")
        status = [m.json() for m in subscriber.messages
                  if m.topic.endswith("/gateway/gw1/status") and m.payload]
        assert "refused a write" in status[-1].get("storage", "")

        assert rig.say("free") == "freed"
        subscriber.wait_event("gateway.storage_ok", timeout=15)
        sims.release("io-0", "btn-b")
        sims.press("io-0", "btn-a")
        again = subscriber.wait_event("panic.pressed", count=2, timeout=15, point="btn-a")
        assert "durable" not in again[-1], "stored again, without a restart"
        assert rig.say("stop") == "stopped 0"
    finally:
        if rig.proc.poll() is None:
            rig.proc.kill()
        sims.stop()
    log = rig.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "can be written again" in log


def test_what_waited_on_the_disk_goes_out_first_while_the_disk_is_full(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    """Events accepted on the disk while the broker was away, then more kept in memory once
    the disk filled: when the broker is back, every one arrives, in order for each device,
    without waiting for the disk to have room again."""
    site = site_file(tmp_path, mosquitto.url, modules=1)
    sims = SimulatorThread(site)
    rig = DiskRig(tmp_path, site)
    try:
        subscriber.wait_event("device.online", timeout=20)
        subscriber.settle()
        mosquitto.stop()
        for _ in range(3):  # stored on the disk, waiting for the broker
            sims.press("io-0", "btn-a")
            time.sleep(0.3)
            sims.release("io-0", "btn-a")
            time.sleep(0.3)
        assert rig.say("fill") == "filled"
        for _ in range(3):  # kept in memory: the disk refuses them
            sims.press("io-0", "btn-b")
            time.sleep(0.3)
            sims.release("io-0", "btn-b")
            time.sleep(0.3)
        mosquitto.start()
        subscriber.wait_event("gateway.storage_full", timeout=20)
        subscriber.wait_event("panic.released", count=6, timeout=20, device="io-0")
        subscriber.settle()
        assert rig.say("stop") == "stopped 0"
    finally:
        if rig.proc.poll() is None:
            rig.proc.kill()
        sims.stop()
    events = subscriber.events()
    panic = [e for e in events if e["type"].startswith("campus.panic.")]
    assert [e["subject"] for e in panic] == ["btn-a"] * 6 + ["btn-b"] * 6
    for device in {e["device"] for e in events}:
        seqs = [e["seqno"] for e in events if e["device"] == device]
        assert seqs == sorted(seqs), f"{device}: out of order"
    seqs = sorted({e["seqno"] for e in events})
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a gap in the sequence"
