"""``campus-sim`` as a user runs it: ``serve`` in one process, ``act`` and ``scenario`` next."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymodbus.client import ModbusTcpClient

SCRIPT = Path(sys.executable).with_name("campus-sim")
CAMPUS_SIM = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "simulators"]


def campus_sim(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CAMPUS_SIM, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def served(
    io_site: tuple[Path, int], free_port: Callable[[], int]
) -> Iterator[tuple[str, int, subprocess.Popen[str]]]:
    """A running ``campus-sim serve``; yields (control URL, modbus port, process)."""
    path, modbus_port = io_site
    control = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [*CAMPUS_SIM, "serve", "-c", str(path), "--control", control],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://{control}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/devices", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                out, err = process.communicate()
                pytest.fail(f"campus-sim serve did not come up:\n{out}\n{err}")
            time.sleep(0.1)
    try:
        yield url, modbus_port, process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_act_against_a_running_serve(served: tuple[str, int, subprocess.Popen[str]]) -> None:
    url, modbus_port, process = served

    result = campus_sim("act", "hall-io", "press", "point=btn-1", "--control", url)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["ok"] is True
    assert answer["state"]["points"][0]["pressed"] is True

    result = campus_sim("act", "hall-io", "tamper", "point=btn-1", "on=true", "--control", url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"]["points"][0]["tamper"] is True

    client = ModbusTcpClient("127.0.0.1", port=modbus_port, timeout=1, retries=0)
    assert client.connect()
    bits = client.read_discrete_inputs(0, count=10, device_id=1).bits
    client.close()
    assert (bits[0], bits[9]) == (True, True)

    result = campus_sim("act", "hall-io", "press", "point=btn-9", "--control", url)
    assert result.returncode == 1
    assert "no point 'btn-9'" in result.stderr

    result = campus_sim("act", "roof-io", "press", "point=btn-1", "--control", url)
    assert result.returncode == 1
    assert "no device 'roof-io'" in result.stderr

    result = campus_sim("act", "hall-io", "press", "btn-1", "--control", url)
    assert result.returncode == 2
    assert "expected KEY=VALUE" in result.stderr

    # SIGTERM stops cleanly and the banner named the device and the control URL.
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    banner = f"hall-io  modbus tcp 127.0.0.1:{modbus_port} unit 1  points: btn-1, btn-2, btn-nc"
    assert banner in out
    assert f"control API: {url}" in out


def test_scenario_against_a_running_serve(
    served: tuple[str, int, subprocess.Popen[str]], tmp_path: Path
) -> None:
    url, _, _ = served
    path = tmp_path / "drill.yaml"
    path.write_text(
        "steps:\n"
        "  - {at: 0, device: hall-io, action: press, args: {point: btn-2}}\n"
        "  - {at: 50ms, device: hall-io, action: offline, args: {mode: silent}}\n"
        "  - {at: 100ms, device: hall-io, action: online}\n",
        encoding="utf-8",
    )
    result = campus_sim("scenario", str(path), "--control", url)
    assert result.returncode == 0, result.stderr
    assert "step 0: hall-io press point=btn-2 -> ok" in result.stdout
    assert "step 2: hall-io online -> ok" in result.stdout
    state = httpx.get(f"{url}/devices/hall-io").json()
    assert state["points"][1]["pressed"] is True and state["online"] is True


def test_act_without_a_running_serve_fails_clearly(free_port: Callable[[], int]) -> None:
    result = campus_sim(
        "act", "hall-io", "press", "point=btn-1", "--control", f"127.0.0.1:{free_port()}"
    )
    assert result.returncode == 1
    assert "cannot reach the simulator control API" in result.stderr


def test_serve_rejects_an_invalid_site_file(
    write_site: Callable[..., Path], io_device: Callable[..., dict[str, Any]]
) -> None:
    bad = io_device("hall-io", 15020, colour="red")
    bad["points"][0]["input"] = -1
    path = write_site([bad])
    result = campus_sim("serve", "-c", str(path))
    assert result.returncode == 2
    problems = result.stderr.strip().splitlines()
    assert any("devices[0].colour: unknown key" in line for line in problems), problems
    assert any("devices[0].points[0].input" in line for line in problems), problems
