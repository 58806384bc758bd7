"""No poison rows: a message the outbox cannot publish is set aside and its lane goes on.

The gateway runs as its own process against mosquitto and simulated I/O modules. Between two
runs, rows that can never be published are put straight into its state database, in the
life-safety lane, ahead of everything: one larger than ``outbox.max_message`` (a camera string
of megabytes, as an older version stored it) and one the MQTT client refuses (a wildcard in its
topic). After the restart a panic press must still reach the subscriber, each bad row must be
announced by ``gateway.message_set_aside`` and kept (its first bytes) in ``outbox_aside``.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.conftest import Mosquitto, Subscriber
from tests.rig import GatewayProcess, SimulatorThread, assert_events_valid, site_file


def _poison(state: Path) -> None:
    db = sqlite3.connect(state / "state.sqlite3")
    try:
        now = time.time()
        rows = [
            (now, 1, "io-0", "campus.camera.event", None, "campus/school-1/event/camera/io-0",
             b'{"data": "' + b"A" * (2 << 20) + b'"}'),
            (now, 1, "io-0", "campus.panic.pressed", None, "campus/school-1/event/#",
             b'{"wildcard": true}'),
        ]
        db.executemany("INSERT INTO outbox (created, priority, device, kind, seq, topic, payload,"
                       " qos, retain, content_type, expiry) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0,"
                       " 'application/json', NULL)", rows)
        db.commit()
    finally:
        db.close()


def test_rows_that_cannot_be_published_are_set_aside_and_the_lane_goes_on(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site)
    try:
        gateway.start()
        subscriber.wait_event("device.online", count=2, timeout=20)
        assert gateway.stop() == 0
        _poison(tmp_path / "state")
        gateway.start()
        aside = subscriber.wait_event("gateway.message_set_aside", count=2, timeout=20)
        reasons = sorted(e["data"]["reason"] for e in aside)
        assert "outbox.max_message" in reasons[0] and "MQTT client refused" in reasons[1]
        assert all(e["severity"] == "critical" for e in aside)  # they were life-safety rows
        sims.press("io-1", "btn-a")
        subscriber.wait_event("panic.pressed", device="io-1", point="btn-a", timeout=20)
        subscriber.wait_event("alarm.raised")
        assert assert_events_valid(subscriber) > 0
    finally:
        code = gateway.stop()
        sims.stop()
        print(gateway.output()[-3000:])
    assert code == 0
    db = sqlite3.connect(tmp_path / "state" / "state.sqlite3")
    try:
        kept = db.execute(
            "SELECT kind, size, length(head) FROM outbox_aside ORDER BY id").fetchall()
        left = db.execute("SELECT COUNT(*) FROM outbox WHERE topic LIKE '%#'").fetchone()[0]
    finally:
        db.close()
    assert kept == [("campus.camera.event", (2 << 20) + 12, 512),
                    ("campus.panic.pressed", 18, 18)]
    assert left == 0
    assert "cannot be published" in gateway.output()
