"""Shared test parts: private mosquitto brokers on free loopback ports and a recording subscriber.

Every test that talks MQTT gets its own mosquitto (Debian's), so tests never see each other's
retained messages and a test can stop and restart its broker.
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


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
    """A private mosquitto on a free loopback port that a test can stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        # started as root, mosquitto would drop to its own user and could not write its
        # database into our folder: sessions (and what they queued) would not outlive a restart
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"user {getpass.getuser()}\n"
            f"persistence true\npersistence_location {workdir}/\nautosave_interval 0\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.fail("mosquitto is not installed: run the README's test command (make test)")
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


@dataclass
class Subscriber:
    """Records every message on a filter, like the central platform would receive them."""

    url: str
    topic_filter: str = "campus/#"
    protocol: int = mqtt.MQTTv311
    client_id: str = ""
    messages: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        # A persistent session, so messages published while a broker restarts are queued for us.
        self.client_id = self.client_id or f"test-sub-{id(self):x}"
        v5 = self.protocol == mqtt.MQTTv5
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                   protocol=self.protocol, clean_session=None if v5 else False)
        self._client.reconnect_delay_set(0.1, 0.5)
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: subscribed.set()
        self._client.on_connect = lambda c, *a: c.subscribe(self.topic_filter, qos=1)
        port = int(self.url.rsplit(":", 1)[1])
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 300
            self._client.connect("127.0.0.1", port, clean_start=False, properties=props)
        else:
            self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("subscriber could not subscribe")

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(m.topic, bytes(m.payload), bool(m.retain)))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Message]], Any], timeout: float = 15.0,
                 what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            # woken by each message, and every 50 ms for predicates about other things
            while not (result := predicate(self.messages)) and time.monotonic() < deadline:
                self._cond.wait(0.05)
        if not result:
            topics = [m.topic for m in self.messages[-15:]]
            raise AssertionError(f"timed out waiting for {what or predicate}; last: {topics}")
        return result

    def settle(self, quiet: float = 0.5, timeout: float = 15.0) -> None:
        """Wait until nothing has arrived for ``quiet`` seconds.

        Before a test stops its broker: what the broker acknowledged is the broker's to keep,
        and mosquitto's PUBACK does not wait for its disk, so let it reach us first.
        """
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self._cond:
                count = len(self.messages)
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.05)
        raise AssertionError(f"messages kept arriving for {timeout} s")

    def events(self, type_suffix: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            out = [m.json() for m in self.messages if "/event/" in m.topic and m.payload]
        if type_suffix:
            out = [e for e in out if e["type"].endswith(type_suffix)]
        return out

    def wait_event(self, type_suffix: str, count: int = 1, timeout: float = 15.0,
                   device: str | None = None, **data: Any) -> list[dict[str, Any]]:
        """Wait for ``count`` events of a type (of one device, with these data values)."""
        def match(_msgs: list[Message]) -> list[dict[str, Any]] | None:
            found = [e for e in self.events(type_suffix)
                     if (device is None or e["device"] == device)
                     and all(e["data"].get(k) == v for k, v in data.items())]
            return found if len(found) >= count else None

        return self.wait_for(match, timeout, f"{count} x {type_suffix} {data}")  # type: ignore[no-any-return]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def subscriber(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.url)
    yield sub
    sub.close()
