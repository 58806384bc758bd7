"""The durable outbox against a real mosquitto: nothing accepted is lost, order per device holds,
life-safety goes first, caps drop the right things and say so."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.config import Mqtt
from gateway.config import Outbox as Limits
from gateway.mqtt_link import MqttLink
from gateway.outbox import Outbox, Outgoing, StateWrite
from gateway.topics import Topics
from tests.conftest import Mosquitto, Subscriber

TOPICS = Topics("campus", "s1", "gw1")


def start(tmp_path: Path, broker: Mosquitto, limits: Limits | None = None,
          dropped: list[dict[str, object]] | None = None,
          aside: list[dict[str, object]] | None = None) -> tuple[Outbox, MqttLink]:
    outbox = Outbox(tmp_path / "state.sqlite3", limits or Limits(),
                    (dropped if dropped is not None else []).append,
                    on_set_aside=(aside if aside is not None else []).append)
    link = MqttLink(Mqtt(url=broker.url, protocol="5"), TOPICS, on_request=lambda r: None,
                    on_connection=lambda up: outbox.connection_changed(), on_ack=outbox.acked,
                    announce=lambda: [])
    outbox.start()
    outbox.attach(link)
    link.start()
    return outbox, link


def event(device: str, n: int, life_safety: bool = False) -> Outgoing:
    return Outgoing(topic=TOPICS.event("test", device), body={"device": device, "n": n},
                    device=device, kind="test.urgent" if life_safety else "test.normal",
                    life_safety=life_safety, sequenced=True)


def received(sub: Subscriber) -> list[dict[str, object]]:
    return [m.json() for m in sub.messages if "/event/" in m.topic]


def test_backlog_after_an_outage_arrives_whole_in_order_life_safety_first(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.url, "campus/s1/event/#")
    mosquitto.stop()
    outbox, link = start(tmp_path, mosquitto)
    try:
        for n in range(200):
            outbox.put(event(f"d{n % 4}", n))
        outbox.put(event("d2", 200, life_safety=True))
        for n in range(201, 206):
            outbox.put(event("d9", n, life_safety=True))
        assert outbox.wait_accepted(206, timeout=10)
        assert outbox.stats().backlog == 206 and outbox.stats().life_safety_backlog == 6
        mosquitto.start()
        sub.wait_for(lambda msgs: len(received(sub)) >= 206, 30, "the whole backlog")
        sub.wait_for(lambda msgs: outbox.stats().backlog == 0, 10, "every PUBACK")
    finally:
        outbox.close()
        link.stop()
        sub.close()
    got = received(sub)
    seqs = [m["seqno"] for m in got]
    assert sorted(set(seqs)) == list(range(1, 207))  # every accepted message, numbered gap-free
    for device in ("d0", "d1", "d2", "d3", "d9"):
        ns = [m["n"] for m in got if m["device"] == device]
        assert ns == sorted(ns), f"{device} reordered"
    # the life-safety messages (and d2's earlier ones, promoted with them) overtook the rest
    first = [m["device"] for m in got[:56]]
    assert set(first) == {"d2", "d9"}


def test_accepted_messages_survive_a_restart_and_numbering_continues(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    outbox, link = start(tmp_path, mosquitto)
    for n in range(10):
        outbox.put(event("d1", n))
    assert outbox.wait_accepted(10, timeout=10)
    outbox.close()
    link.stop()

    sub_started = False
    outbox, link = start(tmp_path, mosquitto)
    try:
        assert outbox.stats().backlog == 10 and outbox.stats().last_sequence == 10
        outbox.put(event("d1", 10))
        assert outbox.wait_accepted(1, timeout=10)
        mosquitto.start()
        sub = Subscriber(mosquitto.url, "campus/s1/event/#")
        sub_started = True
        # the subscriber may have joined after some were delivered: read the rest from SQLite
        sub.wait_for(lambda msgs: outbox.stats().backlog == 0, 30, "backlog delivered")
        assert outbox.stats().last_sequence == 11
    finally:
        outbox.close()
        link.stop()
        if sub_started:
            sub.close()


def test_caps_drop_oldest_ordinary_messages_first_and_say_so(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    dropped: list[dict[str, object]] = []
    outbox, link = start(tmp_path, mosquitto, Limits(max_events=1000), dropped)
    try:
        for n in range(5):
            outbox.put(event("urgent", n, life_safety=True))
        for n in range(5, 1105):
            outbox.put(event("d1", n))
        assert outbox.wait_accepted(1105, timeout=10)
        deadline = time.monotonic() + 10
        while not dropped and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        outbox.close()
        link.stop()
    assert dropped == [{"count": 105, "first_sequence": 6, "last_sequence": 110,
                        "types": {"test.normal": 105},
                        "reason": "outbox over 1000 messages"}]
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    left = [r[0] for r in db.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert left[:5] == [1, 2, 3, 4, 5]  # life-safety kept
    assert left[5] == 111 and len(left) == 1000


def test_one_device_backlog_never_delays_another_devices_alarm(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.url, "campus/s1/event/#")
    mosquitto.stop()
    outbox, link = start(tmp_path, mosquitto)
    try:
        for n in range(600):
            outbox.put(event("flooding", n, life_safety=True))
        outbox.put(event("other", 600, life_safety=True))
        outbox.put(event("third", 601))
        outbox.put(event("third", 602, life_safety=True))
        assert outbox.wait_accepted(603, timeout=10)
        mosquitto.start()
        sub.wait_for(lambda msgs: len(received(sub)) >= 603, 30, "the whole backlog")
    finally:
        outbox.close()
        link.stop()
        sub.close()
    got = [(m["device"], m["n"]) for m in received(sub)]
    # devices take turns in the life-safety lane: the others' alarms go in the first round,
    # not after the 600 of the flooding device; third's earlier ordinary row comes along first
    assert got.index(("other", 600)) < 4
    assert got.index(("third", 601)) < got.index(("third", 602)) < 5
    flooding = [n for device, n in got if device == "flooding"]
    assert flooding == sorted(flooding) and len(set(flooding)) == 600


def test_a_message_that_cannot_be_encoded_is_set_aside_and_the_rest_go_on(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Subscriber(mosquitto.url, "campus/s1/event/#")
    aside: list[dict[str, object]] = []
    outbox, link = start(tmp_path, mosquitto, aside=aside)
    try:
        outbox.put(event("d1", 1, life_safety=True))
        outbox.put(Outgoing(topic=TOPICS.event("test", "d1"), body={"n": 2 ** 70}, device="d1",
                            kind="test.urgent", life_safety=True, sequenced=True))
        outbox.put(event("d1", 3, life_safety=True))
        sub.wait_for(lambda msgs: len(received(sub)) >= 2, 10, "the two good messages")
    finally:
        outbox.close()
        link.stop()
        sub.close()
    assert [m["n"] for m in received(sub)] == [1, 3]
    assert [m["seqno"] for m in received(sub)] == [1, 3]  # the gap is the one set aside
    [entry] = aside
    assert entry["sequence"] == 2 and "JSON" in str(entry["reason"])
    assert outbox.stats().set_aside == 1


def test_a_state_change_the_database_refuses_costs_only_itself(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A part's defect (a state write breaking a constraint) must not stop the outbox: the
    messages of the same unit and everything after it are stored and delivered."""
    sub = Subscriber(mosquitto.url, "campus/s1/event/#")
    outbox, link = start(tmp_path, mosquitto)
    try:
        with outbox.unit():
            outbox.put(event("d1", 1, life_safety=True))
            outbox.write(StateWrite("INSERT INTO meta (key, value) VALUES (?, ?)", ("k", None)))
            outbox.write(StateWrite("INSERT INTO meta (key, value) VALUES (?, ?)", ("ok", 1)))
        outbox.put(event("d1", 2))
        sub.wait_for(lambda msgs: len(received(sub)) >= 2, 10, "both messages")
    finally:
        outbox.close()
        link.stop()
        sub.close()
    assert [m["n"] for m in received(sub)] == [1, 2]
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    try:
        assert db.execute("SELECT value FROM meta WHERE key = 'ok'").fetchone() == (1,)
        assert db.execute("SELECT value FROM meta WHERE key = 'k'").fetchone() is None
    finally:
        db.close()


def test_a_one_event_window_replays_a_backlog_at_the_replay_rate_not_slower(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mqtt.in_flight: 1`` hands one row per broker round trip: the replay's pacing must ask
    for one row's share of ``replay_rate``, not a whole 50 ms pause per row (20 events/s)."""
    import gateway.outbox.outbox as module

    paused: list[float] = []
    clock = SimpleNamespace(monotonic=time.monotonic, time=time.time,
                            sleep=lambda s: (paused.append(s), time.sleep(s)))
    monkeypatch.setattr(module, "time", clock)
    sub = Subscriber(mosquitto.url, "campus/s1/event/#")
    mosquitto.stop()
    outbox = Outbox(tmp_path / "state.sqlite3", Limits(replay_rate=1000.0), window=1)
    link = MqttLink(Mqtt(url=mosquitto.url, protocol="5", in_flight=1), TOPICS,
                    on_request=lambda r: None, on_connection=lambda up: outbox.connection_changed(),
                    on_ack=outbox.acked, announce=lambda: [])
    outbox.start()
    outbox.attach(link)
    link.start()
    try:
        for n in range(100):
            outbox.put(event(f"d{n % 2}", n))
        assert outbox.wait_accepted(100, timeout=10)
        mosquitto.start()
        sub.wait_for(lambda msgs: len(received(sub)) >= 100, 60, "the whole backlog")
        order = [e["n"] for e in received(sub) if e["device"] == "d0"]
        assert order == sorted(order)
        # 100 rows at 1000 a second: 0.1 s of pauses asked for in all (50 ms a row: 5 s)
        assert sum(paused) <= 100 / 1000.0 + 0.01, f"{sum(paused):.2f} s of pauses"
    finally:
        outbox.close()
        link.stop()
        sub.close()
