"""The alarm store and the outbox agree after a kill at any moment.

A child process runs the real intake, bus, publisher, alarm service and outbox (no broker: nothing
is delivered, so every accepted message stays in the database) and presses, releases and resets
panic buttons as fast as it can. It is killed with SIGKILL after a different delay each round.
After every kill the state database must hold, for every alarm the store believes in, the
``alarm.raised`` event that announced it and the ``panic.pressed`` fact that caused it, and for
every announced alarm that is not closed, the alarm itself.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from gateway.alarms import AlarmService, AlarmStore
    from gateway.bus import AlarmChanged, Bus
    from gateway.config import Alarms, Flood, Outbox as Limits
    from gateway.kernel.events import PANIC_PRESSED, PANIC_RELEASED, Event, PointFact, Severity
    from gateway.intake import Intake
    from gateway.outbox import Outbox
    from gateway.publisher import EventPublisher
    from gateway.topics import Topics

    async def main(path: Path) -> None:
        outbox = Outbox(path, Limits(synchronous="normal"))
        outbox.start()
        store = AlarmStore(path, outbox)
        bus = Bus()
        alarms = AlarmService(store, Alarms(), bus.publish, lambda: False)
        publisher = EventPublisher(outbox, Topics("campus", "s", "gw"), lambda: False)
        intake = Intake(bus, alarms.active_conditions, outbox.unit, outbox.durable, Flood(),
                        decide=None)  # type: ignore[arg-type]  # no readers in this test
        bus.subscribe(Event, publisher.publish)
        bus.subscribe(Event, alarms.on_event)
        bus.subscribe(AlarmChanged, publisher.alarm_changed)
        print("ready", flush=True)
        n = 0
        while True:
            point = f"b{n % 7}"
            fact = PointFact(point=point, zone="z")
            intake.emit(Event(PANIC_PRESSED, "io", fact, Severity.CRITICAL, point))
            await asyncio.sleep(0)
            intake.emit(Event(PANIC_RELEASED, "io", fact, Severity.INFO, point))
            for alarm in alarms.open_for_device("io"):
                if not alarm.active:
                    alarms.reset(alarm.alarm_id, "guard")
            n += 1
            await asyncio.sleep(0.0005 * (n % 3))

    asyncio.run(main(Path(sys.argv[1])))
""")


def check(path: Path) -> tuple[int, int]:
    db = sqlite3.connect(path)
    try:
        believed = {alarm_id: json.loads(doc) for alarm_id, doc in
                    db.execute("SELECT id, doc FROM alarms WHERE tracked = 1")}
        rows = [(kind, json.loads(payload)) for kind, payload in
                db.execute("SELECT kind, payload FROM outbox WHERE kind LIKE 'campus.%'"
                           " ORDER BY id")]
    finally:
        db.close()
    announced: dict[str, dict[str, object]] = {}
    closed: set[str] = set()
    pressed = 0
    for kind, body in rows:
        if kind == "campus.panic.pressed":
            pressed += 1
        if kind == "campus.alarm.raised":
            announced[body["data"]["alarm"]["alarm_id"]] = body
        if kind == "campus.alarm.closed":
            closed.add(body["data"]["alarm"]["alarm_id"])
    missing = set(believed) - set(announced)
    assert not missing, f"the store believes in alarms never announced: {sorted(missing)[:5]}"
    lost = set(announced) - closed - set(believed)
    assert not lost, f"announced, not closed, yet not in the store: {sorted(lost)[:5]}"
    assert pressed >= len(announced), "an alarm.raised without its panic.pressed"
    return len(believed), len(announced)


def test_a_kill_at_any_moment_leaves_store_and_outbox_in_agreement(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    announced_total = 0
    for round_no in range(24):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready", child.stderr.read() if \
            child.stderr else ""
        time.sleep(0.005 + 0.013 * round_no)  # a different moment of the loop each round
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        _, announced_total = check(path)
    assert announced_total > 24, "the child raised too few alarms for the test to mean much"
