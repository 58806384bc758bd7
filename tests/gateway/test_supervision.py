"""Every part of the gateway runs supervised.

The gateway runs in-process (so a test can reach into one running part), against a real
mosquitto and simulated Modbus I/O modules on real sockets. Each fault is a real one in a real
part, put there by monkeypatching a method the part calls: an exception, a hang, the outbox
thread killed. While it happens, panic presses go on; every one must reach MQTT, the failure
must show in the retained status and the Prometheus metrics, and the part must come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway import app, cli
from gateway.app import Gateway
from gateway.config import load_site
from gateway.remote import request_body
from gateway.supervisor import Fatal
from tests.conftest import Mosquitto, Subscriber, free_port, wait_port
from tests.rig import GUARD_TOKEN, SimulatorThread, site_file

STATUS = "campus/school-1/gateway/gw1/status"
REQUESTS = "campus/school-1/gateway/gw1/request/"
RESPONSES = "campus/school-1/gateway/gw1/response/#"


class GatewayThread:
    """The gateway's event loop on a thread of its own; ``outcome`` is what ``run`` raised."""

    def __init__(self, site: Path) -> None:
        self.gateway = Gateway(load_site(site))
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.outcome: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self.gateway.run(self._stop))
        except BaseException as exc:
            self.outcome = exc

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)
        assert not self.thread.is_alive(), "the gateway did not stop"

    def health(self, prefix: str) -> list[dict[str, Any]]:
        return [p for p in self.gateway.parts() if p["name"].startswith(prefix)]


class Campus:
    def __init__(self, site: Path, metrics_port: int, sims: SimulatorThread,
                 gateway: GatewayThread, subscriber: Subscriber) -> None:
        self.site, self.metrics_port, self.sims = site, metrics_port, sims
        self.gateway, self.sub = gateway, subscriber
        self.presses = 0

    @property
    def gw(self) -> Gateway:
        return self.gateway.gateway

    def press_once(self, device: str = "io-1", point: str = "btn-a") -> None:
        """One press and release; the module is polled every 50 ms, debounced 50 ms."""
        self.sims.press(device, point)
        time.sleep(0.2)
        self.sims.release(device, point)
        time.sleep(0.2)
        self.presses += 1

    def press_until(self, done: Callable[[], object], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.press_once()

    def failed(self, prefix: str) -> bool:
        return any(p["failures"] for p in self.gateway.health(prefix))

    def back(self, prefix: str) -> bool:
        parts = self.gateway.health(prefix)
        return all(p["state"] == "running" for p in parts) and any(p["failures"] for p in parts)

    def every_press_arrived(self) -> None:
        self.sub.wait_event("panic.pressed", count=self.presses, device="io-1", timeout=30)
        assert len(self.sub.events("panic.pressed")) >= self.presses

    def status_shows(self, prefix: str) -> dict[str, Any]:
        def shown(messages: list[Any]) -> dict[str, Any] | None:
            for message in reversed(messages):
                if message.topic == STATUS and message.payload:
                    failed = json.loads(message.payload).get("parts", {}).get("failed", {})
                    for name, health in failed.items():
                        if name.startswith(prefix):
                            return health  # type: ignore[no-any-return]
            return None

        return self.sub.wait_for(shown, 15, f"{prefix} failed, in the retained status")  # type: ignore[no-any-return]

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics").text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def failures_counted(self, prefix: str, reason: str) -> float:
        return sum(value for (name, labels), value in self.metrics().items()
                   if name == "campus_part_failures_total"
                   and dict(labels)["part"].startswith(prefix)
                   and dict(labels)["reason"] == reason)


@contextlib.contextmanager
def running_campus(tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber,
                   monkeypatch: pytest.MonkeyPatch,
                   before_start: Callable[[dict[str, Any]], None] = lambda doc: None,
                   ) -> Iterator[Campus]:
    # a hang is found within seconds here, not the minutes a site allows
    for name in ("OUTBOX_STALL", "COMMAND_STALL", "MEDIA_STALL", "DRIVER_STALL"):
        monkeypatch.setattr(app, name, 1.5)
    monkeypatch.setattr(app, "MEDIA_PRUNE_EVERY", 0.3)
    port = free_port()
    site = site_file(tmp_path, mosquitto.url, modules=2, extra={
        "metrics": {"enabled": True, "listen": {"host": "127.0.0.1", "port": port}}})
    before_start(yaml.safe_load(site.read_text()))
    sims = SimulatorThread(site)
    gateway = GatewayThread(site)
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        wait_port(port)
        yield Campus(site, port, sims, gateway, subscriber)
    finally:
        gateway.stop()
        sims.stop()
    assert gateway.outcome is None, f"the gateway ended with {gateway.outcome!r}"


@pytest.fixture
def campus(tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Campus]:
    with running_campus(tmp_path, mosquitto, subscriber, monkeypatch) as running:
        yield running


def once(original: Callable[..., Any], fault: Callable[[], Any]) -> Callable[..., Any]:
    """``original``, but the first call does ``fault`` instead (raise, hang, exit)."""
    fired = threading.Event()

    def patched(*args: Any, **kwargs: Any) -> Any:
        if not fired.is_set():
            fired.set()
            return fault()
        return original(*args, **kwargs)

    return patched


def once_async(original: Callable[..., Any], fault: Callable[[], Any]) -> Callable[..., Any]:
    fired = False

    async def patched(*args: Any, **kwargs: Any) -> Any:
        nonlocal fired
        if not fired:
            fired = True
            return await fault()
        return await original(*args, **kwargs)

    return patched


def injected(what: str) -> Callable[[], None]:
    def fault() -> None:
        raise RuntimeError(f"injected fault: {what}")
    return fault


def check_comes_back(campus: Campus, prefix: str, reason: str,
                     release: Callable[[], None] = lambda: None) -> None:
    """Presses go on while ``prefix`` fails; then the failure shows and the part is back."""
    campus.press_once()
    campus.press_until(lambda: campus.failed(prefix), f"{prefix} to fail")
    release()
    campus.press_until(lambda: campus.back(prefix), f"{prefix} to come back")
    campus.press_once()
    campus.every_press_arrived()
    health = campus.status_shows(prefix)
    assert health["failures"] >= 1 and health["last_error"]
    assert campus.failures_counted(prefix, reason) >= 1
    running = [v for (name, labels), v in campus.metrics().items()
               if name == "campus_part_running" and dict(labels)["part"].startswith(prefix)]
    assert running and all(v == 1 for v in running)


# -- a part raises -------------------------------------------------------------------------

def test_the_outbox_thread_that_raises_is_started_again(campus: Campus,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    outbox = campus.gw.outbox
    monkeypatch.setattr(outbox, "_tidy", once(outbox._tidy, injected("outbox")))
    check_comes_back(campus, "outbox", "raised")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_outbox_thread_killed_is_started_again(campus: Campus,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def kill() -> None:
        raise SystemExit  # ends the thread without a word, as a killed thread would

    outbox = campus.gw.outbox
    monkeypatch.setattr(outbox, "_tidy", once(outbox._tidy, kill))
    check_comes_back(campus, "outbox", "raised")
    assert "without an exception" in campus.gateway.health("outbox")[0]["last_error"]


def test_a_driver_that_raises_is_started_again(campus: Campus,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    driver = campus.gw.supervisor._drivers["io-0"]
    monkeypatch.setattr(driver, "_apply", once(driver._apply,  # type: ignore[attr-defined]
                                               injected("a reading the driver cannot apply")))
    check_comes_back(campus, "driver io-0", "raised")
    campus.sims.press("io-0", "btn-b")  # the module that failed reports again
    campus.sub.wait_event("panic.pressed", device="io-0", point="btn-b")


def test_the_alarm_clock_that_raises_is_started_again(campus: Campus,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    doors = campus.gw.doors
    monkeypatch.setattr(doors, "tick", once(doors.tick, injected("alarm clock")))
    check_comes_back(campus, "alarm clock", "raised")


def test_the_stats_loop_that_raises_is_started_again(campus: Campus,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    gw = campus.gw
    monkeypatch.setattr(gw, "stats", once(gw.stats, injected("stats")))
    check_comes_back(campus, "stats", "raised")


def test_media_pruning_that_raises_is_started_again(campus: Campus,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    media = campus.gw.media
    monkeypatch.setattr(media, "prune", once(media.prune, injected("media")))
    check_comes_back(campus, "media", "raised")


def test_a_command_worker_that_raises_is_started_again(
        campus: Campus, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = campus.gw.requests
    monkeypatch.setattr(requests, "_respond", once(requests._respond, injected("respond")))
    with Central(mosquitto) as central:
        central.send("alarm.list", request_body("guard1", GUARD_TOKEN, {}))
        check_comes_back(campus, "command worker", "raised")
        answer = central.ask("alarm.list", request_body("guard1", GUARD_TOKEN, {}))
        assert answer["status"] == "ok"


def test_a_console_whose_port_is_taken_is_started_again_once_it_is_free(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber,
        monkeypatch: pytest.MonkeyPatch) -> None:
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def take_the_port(doc: dict[str, Any]) -> None:
        listen = doc["console"]["listen"]
        squatter.bind((listen["host"], listen["port"]))
        squatter.listen()

    try:
        with running_campus(tmp_path, mosquitto, subscriber, monkeypatch,
                            take_the_port) as campus:
            check_comes_back(campus, "console", "stopped", release=squatter.close)
            console = campus.gw.console
            assert console is not None
            campus.press_until(lambda: campus.back("console") and httpx.get(
                console.url + "login").status_code == 200, "the console to serve")
            campus.every_press_arrived()
    finally:
        squatter.close()


def test_a_siren_write_that_raises_is_reported_and_the_next_one_sounds(
        campus: Campus, monkeypatch: pytest.MonkeyPatch) -> None:
    sirens = campus.gw.sirens

    async def fault() -> None:
        raise RuntimeError("injected fault: siren write")

    monkeypatch.setattr(sirens, "_drive", once_async(sirens._drive, fault))
    check_comes_back(campus, "sirens", "raised")
    campus.sub.wait_event("output.changed", output="siren", requested=True, confirmed=True)


def test_a_listener_that_raises_is_reported_against_its_part(
        campus: Campus, monkeypatch: pytest.MonkeyPatch) -> None:
    sirens = campus.gw.sirens
    monkeypatch.setattr(sirens, "_schedule", once(sirens._schedule, injected("listener")))
    check_comes_back(campus, "sirens", "raised")
    assert "injected fault: listener" in campus.gateway.health("sirens")[0]["last_error"]


def test_a_status_that_cannot_be_read_never_stops_the_mqtt_link(
        campus: Campus, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable() -> dict[str, Any]:
        raise sqlite3.ProgrammingError("Cannot operate on a closed database.")

    monkeypatch.setattr(campus.gw.access, "status", unreadable)
    mosquitto.stop()  # on reconnecting, paho's thread publishes the status with access's part
    mosquitto.start()
    campus.press_once()
    campus.every_press_arrived()
    assert campus.gw.link.connected


# -- a part hangs --------------------------------------------------------------------------

def test_an_outbox_thread_that_hangs_shows_as_stalled_and_loses_nothing(
        campus: Campus, monkeypatch: pytest.MonkeyPatch) -> None:
    hung = threading.Event()
    outbox = campus.gw.outbox
    monkeypatch.setattr(outbox, "_tidy", once(outbox._tidy, lambda: hung.wait(30)))
    check_comes_back(campus, "outbox", "stalled", release=hung.set)


def test_a_driver_whose_poll_hangs_is_cancelled_and_started_again(
        campus: Campus, monkeypatch: pytest.MonkeyPatch) -> None:
    driver: Any = campus.gw.supervisor._drivers["io-0"]
    client = driver._link.client

    async def hang(*_args: Any, **_kwargs: Any) -> None:
        await asyncio.Event().wait()  # a read that neither answers nor times out

    monkeypatch.setattr(client, "read_discrete_inputs", hang)
    check_comes_back(campus, "driver io-0", "stalled")
    assert driver._link.client is not client  # started again with a new connection
    campus.sims.press("io-0", "btn-b")
    campus.sub.wait_event("panic.pressed", device="io-0", point="btn-b")


def test_media_pruning_that_hangs_is_cancelled_and_started_again(
        campus: Campus, monkeypatch: pytest.MonkeyPatch) -> None:
    hung = threading.Event()
    media = campus.gw.media
    monkeypatch.setattr(media, "prune", once(media.prune, lambda: hung.wait(30)))
    try:
        check_comes_back(campus, "media", "stalled")
    finally:
        hung.set()


def test_a_command_that_hangs_is_answered_and_its_worker_started_again(
        campus: Campus, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    router = campus.gw.commands

    async def hang() -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(router, "handle", once_async(router.handle, hang))
    with Central(mosquitto) as central:
        body = request_body("guard1", GUARD_TOKEN, {})
        central.send("alarm.list", body)
        check_comes_back(campus, "command worker", "stalled")
        hung = central.answer_to(body)
        assert hung["status"] == "error" and hung["error"]["code"] == "internal"
        assert "stopped before it finished" in hung["error"]["message"]
        assert central.ask("alarm.list", request_body("guard1", GUARD_TOKEN, {}))["status"] == "ok"


# -- requests that used to stop the gateway ------------------------------------------------

def test_a_request_nested_20000_deep_is_a_bad_request_and_alarms_go_on(
        campus: Campus, mosquitto: Mosquitto) -> None:
    body = request_body("guard1", GUARD_TOKEN, {"filter": "DEEP"})
    deep = json.dumps(body).encode().replace(b'"DEEP"', b"[" * 20000 + b"]" * 20000)
    assert 40_000 <= len(deep) <= 64 * 1024
    with Central(mosquitto) as central:
        central.send_raw("alarm.list", deep)
        # refused before it was parsed: no correlation id read from it (MQTT 5 correlation
        # data still comes back)
        answer = central.wait(lambda a: a.get("error") is not None)
        assert answer["error"]["code"] == "bad_request" and answer["correlation_id"] == ""
        assert "deeper than 32 levels" in answer["error"]["message"]
        central.send_raw("alarm.list", b"[" * 70000)
        too_large = central.wait(lambda a: a.get("error") and a["error"]["code"] == "too_large")
        assert "70000 bytes; the limit is 65536" in too_large["error"]["message"]
    campus.press_once()
    campus.every_press_arrived()
    assert not any(p["failures"] for p in campus.gw.parts())


# -- the one failure that ends the gateway -------------------------------------------------

def test_a_failing_state_database_ends_the_gateway_and_nothing_else_does(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber,
        monkeypatch: pytest.MonkeyPatch) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=1)
    sims = SimulatorThread(site)
    gateway = GatewayThread(site)
    try:
        subscriber.wait_event("device.online", timeout=20)
        outbox = gateway.gateway.outbox

        def corrupt() -> None:
            raise sqlite3.DatabaseError("database disk image is malformed")

        monkeypatch.setattr(outbox, "_tidy", once(outbox._tidy, corrupt))
        gateway.thread.join(20)
        assert isinstance(gateway.outcome, Fatal)
        assert "state database" in str(gateway.outcome) and "malformed" in str(gateway.outcome)
        # every other part was stopped first: the retained status says the gateway stopped
        subscriber.wait_for(lambda ms: any(
            m.topic == STATUS and m.payload and json.loads(m.payload).get("reason") == "stopped"
            for m in ms), 10, "the offline status")
    finally:
        gateway.stop()
        sims.stop()


def test_the_daemon_exits_non_zero_when_the_state_database_fails(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``campus-gateway run`` itself (in this process, for the fault): exit code 4."""
    site = site_file(tmp_path, mosquitto.url, modules=1)
    calls = 0

    def tidy(self: Any, db: sqlite3.Connection) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("gateway.outbox.Outbox._tidy", tidy)
    assert cli.main(["run", "-c", str(site)]) == cli.EXIT_STATE_FAILED
    assert "disk I/O error" in capsys.readouterr().err


class Central:
    """The central platform's side of the command topic: requests out, answers in."""

    def __init__(self, mosquitto: Mosquitto) -> None:
        self.answers: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", mosquitto.port)
        self.client.subscribe(RESPONSES, qos=1)
        self.client.loop_start()
        assert subscribed.wait(10)

    def __enter__(self) -> Central:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.answers.append(json.loads(message.payload))
            self._cond.notify_all()

    def send_raw(self, name: str, payload: bytes) -> None:
        self.client.publish(REQUESTS + name, payload, qos=1).wait_for_publish(5)

    def send(self, name: str, body: dict[str, Any]) -> None:
        self.send_raw(name, json.dumps(body).encode())

    def wait(self, match: Callable[[dict[str, Any]], Any], timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [a for a in self.answers if match(a)]
                if found:
                    return found[0]
                assert time.monotonic() < deadline, f"no answer; got {self.answers}"
                self._cond.wait(0.1)

    def answer_to(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to ``body``; one refused in a worker's last resort carries no id."""
        return self.wait(lambda a: a.get("correlation_id") in (body["correlation_id"], ""))

    def ask(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.send(name, body)
        return self.wait(lambda a: a.get("correlation_id") == body["correlation_id"])
