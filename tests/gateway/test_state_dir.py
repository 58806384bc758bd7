"""The state dir: private whatever the umask, and a clear line (not a traceback) when unusable."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Mosquitto
from tests.rig import site_file


def with_state(site: Path, state: str) -> None:
    doc = yaml.safe_load(site.read_text())
    doc["gateway"]["state_dir"] = state
    site.write_text(yaml.safe_dump(doc))


def run_briefly(site: Path, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [*(prefix or []), sys.executable, "-m", "gateway.cli", "run", "-c", str(site)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.umask(0o022))
    try:
        out, err = proc.communicate(timeout=4)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def test_state_files_are_private_whatever_the_umask(tmp_path: Path, mosquitto: Mosquitto) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=1)
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "audit.jsonl").write_text("")
    (state / "audit.jsonl").chmod(0o644)
    state.chmod(0o755)
    done = run_briefly(site)
    assert "Traceback" not in done.stderr, done.stderr
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = [p for p in state.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"state.sqlite3", "audit.jsonl"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), {
        p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert "was readable by others" in done.stderr


def test_a_state_dir_that_cannot_be_made_is_one_clear_line(tmp_path: Path,
                                                           mosquitto: Mosquitto) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=1)
    with_state(site, "/dev/null/state")
    done = run_briefly(site)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "state dir" in line]
    assert "/dev/null/state" in line and "writable directory" in line


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("unshare"),
                    reason="mounting a read-only file system needs root (unshare -m)")
def test_a_read_only_state_dir_is_one_clear_line(tmp_path: Path, mosquitto: Mosquitto) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=1)
    state = tmp_path / "ro"
    state.mkdir()
    with_state(site, str(state))
    script = (f"mount -t tmpfs -o ro,size=1m tmpfs {state} && exec {sys.executable} -m "
              f"gateway.cli run -c {site}")
    started = time.monotonic()
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert time.monotonic() - started < 30
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Read-only file system" in done.stderr and str(state) in done.stderr
