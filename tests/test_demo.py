"""`campus-gateway demo` as a newcomer runs it: embedded broker, simulated campus, gateway."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.config import load_site
from gateway.demo import DemoError, banner, demo_listeners, refuse_taken_ports
from tests.conftest import Subscriber, free_port, wait_port

REPO = Path(__file__).resolve().parents[1]
DEMO_SITE = REPO / "config" / "demo-campus.yaml"


def test_demo_runs_and_a_button_press_reaches_the_subscriber(tmp_path: Path) -> None:
    port, control, console_port = free_port(), f"127.0.0.1:{free_port()}", free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "-c", str(DEMO_SITE), "--port", str(port),
         "--control", control, "--console-port", str(console_port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    output: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in demo.stdout or []],
                     daemon=True).start()
    sub = None
    try:
        while "Campus gateway demo is running" not in (line := lines.get(timeout=60)):
            output.append(line)
        while "console" not in (line := lines.get(timeout=10)):
            output.append(line)
        console_url, password = line.split()[1], line.split()[-1]
        wait_port(port)
        sub = Subscriber(f"mqtt://127.0.0.1:{port}")
        sub.wait_event("device.online", count=5, timeout=30)

        def sim(*args: str) -> None:
            done = subprocess.run([sys.executable, "-m", "simulators", "act", *args,
                                   "--control", control], capture_output=True, text=True,
                                  timeout=30)
            assert done.returncode == 0, done.stderr

        # the gates: a staff card at the main gate's lane 1, a forced staff door
        sub.wait_event("device.online", device="main-gate-in", timeout=30)
        sim("main-gate-in", "present-card", "card=20001")
        (granted,) = sub.wait_event("access.granted", timeout=15)
        assert granted["data"]["person_id"] == "T001" and granted["data"]["gate"] == "main-gate"
        sim("staff-door", "force")
        (forced,) = sub.wait_event("alarm.raised", timeout=15)
        assert forced["data"]["alarm"]["condition"] == "door_forced"
        sim("staff-door", "close")
        sub.wait_event("door.secured", timeout=15)

        act = subprocess.run(
            [sys.executable, "-m", "simulators", "act", "gate-house-io", "press",
             "point=btn-1", "--control", control],
            capture_output=True, text=True, timeout=30)
        assert act.returncode == 0, act.stderr
        raised = sub.wait_event("alarm.raised", count=2, timeout=15)[-1]
        alarm = raised["data"]["alarm"]
        assert alarm["device_id"] == "gate-house-io" and alarm["zone"] == "gate-house"
        # the second alarm path: the police centre's (simulated) DC-09 receiver took the panic
        deadline = time.monotonic() + 15
        while not [r for r in httpx.get(f"http://{control}/devices/arc-police").json()[
                "received"] if r["code"] == "PA" and r["zone"] == 1]:
            assert time.monotonic() < deadline, "the panic never reached the alarm centre"
            time.sleep(0.1)

        # the console it printed takes the one-time login, and shows the alarm
        assert console_url == f"http://127.0.0.1:{console_port}/"
        with httpx.Client(base_url=console_url, follow_redirects=False) as web:
            form = web.get("login")
            csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
            logged = web.post("login", data={"name": "demo-guard", "password": password,
                                             "csrf": csrf})
            assert logged.status_code == 303 and logged.headers["location"] == "/"
            board = web.get("api/state").json()
            assert board["operator"] == "demo-guard"
            assert alarm["alarm_id"] in [a["alarm_id"] for a in board["alarms"]]
        # the panic at the gate house locked the campus down (linkage)
        sub.wait_event("access.gate_mode", mode="locked", gate="main-gate", timeout=15)

        token = (tmp_path / "var" / "demo" / "operator-token").read_text().strip()
        listed = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "alarm", "list", "-c", str(DEMO_SITE),
             "--broker", f"mqtt://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=30,
            env={**os.environ, "CAMPUS_OPERATOR": "demo-guard", "CAMPUS_OPERATOR_TOKEN": token})
        assert listed.returncode == 0, listed.stderr
        assert alarm["alarm_id"] in listed.stdout

        # the shipped fire drill, played four times faster than written
        drill = subprocess.run(
            [sys.executable, "-m", "simulators", "scenario",
             str(REPO / "config" / "scenarios" / "fire-drill.yaml"), "-c", str(DEMO_SITE),
             "--broker", f"mqtt://127.0.0.1:{port}", "--control", control, "--speed", "4"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "CAMPUS_OPERATOR": "demo-guard", "CAMPUS_OPERATOR_TOKEN": token})
        assert drill.returncode == 0, drill.stdout + drill.stderr
        (summary,) = sub.wait_event("drill.stopped", timeout=15)
        assert summary["drill"] is True
        assert summary["data"]["alarms_raised"] == 1
        assert summary["data"]["seconds_to_first_acknowledge"] is not None
        (fire,) = sub.events("fire.alarm")
        assert fire["drill"] is True and fire["data"]["zone"] == "building-b-f2"
        (linkage,) = [e for e in sub.events("linkage.executed")
                      if e["data"]["rule"] == "open-main-gate-on-fire"]
        assert linkage["data"]["ok"] is True
        # the panic at the gate house turned the gate camera and took its snapshot
        (camera,) = [e for e in sub.events("linkage.executed")
                     if e["data"]["rule"] == "gate-camera-on-panic"
                     and e["data"]["alarm_id"] == alarm["alarm_id"]]
        assert camera["data"]["ok"] is True
        shots = [e for e in sub.events("camera.snapshot")
                 if e["data"]["alarm_id"] == alarm["alarm_id"]]
        assert shots and shots[0]["data"]["camera"] == "gate-cam"
        closed = [e["data"]["alarm"] for e in sub.events("alarm.closed")]
        assert [a["condition"] for a in closed] == ["fire"] and closed[0]["note"] == "panel reset"
    finally:
        if sub is not None:
            sub.close()
        demo.send_signal(signal.SIGINT)
        code = demo.wait(30)
        while not lines.empty():
            output.append(lines.get())
        print("".join(output))
    assert code == 0


def test_a_second_demo_refuses_to_start_naming_the_port_in_use(tmp_path: Path) -> None:
    # the first demo's control API (or any program) holds the port this one would use: the
    # second demo must not take that API's answers for its own simulators' and go on
    with socket.socket() as first:
        first.bind(("127.0.0.1", 0))
        first.listen()
        taken = first.getsockname()[1]
        second = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "demo", "-c", str(DEMO_SITE), "--port",
             str(free_port()), "--control", f"127.0.0.1:{taken}", "--console-port",
             str(free_port())],
            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1, second.stdout + second.stderr
    assert (f"127.0.0.1:{taken} (the simulators' control API (--control)) is in use"
            in second.stderr), second.stderr
    assert "another demo" in second.stderr
    assert "Traceback" not in second.stderr
    assert "Campus gateway demo is running" not in second.stdout
    # and it wrote nothing: the first demo's operator token is still the one it printed
    assert not (tmp_path / "var").exists()


def test_the_demo_checks_every_port_of_its_campus_before_it_starts() -> None:
    site = load_site(DEMO_SITE)
    listeners = demo_listeners(site, 1883, "127.0.0.1:8787")
    ports = {(what, port) for what, _host, port in listeners}
    assert {("device gate-house-io", 15020), ("device fire-panel-b", 15030),
            ("device main-gate-bus", 15040), ("device gate-cam", 18080),
            ("device vehicle-gate-controllers", 18088),  # the gateway's receiver
            ("device vehicle-gate-controllers", 18089),  # the simulated controller
            ("the embedded broker (--port)", 1883),
            ("alarm centre arc-police", 15060)} <= ports  # the simulated DC-09 receiver
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(DemoError, match=rf"127\.0\.0\.1:{port} \(device kg-io\) is in use"):
            refuse_taken_ports([("the console", "127.0.0.1", free_port()),
                                ("device kg-io", "127.0.0.1", port)])
    # a port that was used and closed again is free
    refuse_taken_ports([("device kg-io", "127.0.0.1", port)])


def test_the_banner_names_the_broker_it_was_given() -> None:
    site = load_site(DEMO_SITE)
    args = (Path("config/demo-campus.yaml"), Path("var/demo/operator-token"),
            list(site.devices), "127.0.0.1:8787", None, "3 persons")
    given = banner("mqtt://10.0.0.5:1884", "demo-school", *args, embedded=False)
    assert "mqtt://10.0.0.5:1884   (given with --broker)" in given
    assert "amqtt" not in given
    assert "mosquitto_sub -h 10.0.0.5 -p 1884" in given
    assert "(embedded amqtt, MQTT 3.1.1)" in banner("mqtt://127.0.0.1:1883", "demo-school",
                                                    *args)
