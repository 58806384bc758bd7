"""Access latency: decisions with 100,000 credentials, card -> relay over OSDP, decision and HTTP
push -> event on MQTT, and a morning rush. Prints figures; judges nothing.

    .venv/bin/python bench/access_latency.py              # every part
    .venv/bin/python bench/access_latency.py --only decision
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import latency_row, machine, quiet_logging


async def _decisions(workdir: Path, holders: int, samples: int) -> None:
    from gateway.access.config import Access
    from gateway.access.control import AccessControl
    from gateway.access.credentials import (
        CredentialRecord,
        CredentialStore,
        PersonRecord,
        snapshot_parts,
    )
    from gateway.access.ledger import Ledger
    from gateway.access.modes import GateModes
    from gateway.access.requests import AccessRequest
    from gateway.access.schedules import Schedules
    from gateway.alarms import AlarmStore
    from gateway.bus import Bus
    from gateway.config import Outbox as Limits
    from gateway.events import Event
    from gateway.outbox import Outbox, state_database
    from gateway.publisher import EventPublisher
    from gateway.topics import Topics

    access = Access.model_validate({
        "gates": [{"id": f"lane-{n}", "area": "campus"} for n in range(8)],
        "areas": [{"id": "campus", "anti_passback": "soft"}],
        "schedules": [{"id": "school-day", "windows": [{"days": ["mon", "tue", "wed", "thu",
                                                                 "fri", "sat", "sun"]}]}],
        "category_schedules": {"student": "school-day"},
    })
    database = state_database(workdir)
    outbox = Outbox(database, Limits())
    outbox.start()
    bus = Bus()
    bus.subscribe(Event, EventPublisher(outbox, Topics("campus", "s", "gw"), lambda: False).publish)
    store = AlarmStore(database, outbox)
    schedules = Schedules(access, "Asia/Shanghai")

    async def no_device(*_: Any) -> dict[str, Any]:
        return {"confirmed": True}

    modes = GateModes(access, schedules, store, {}, no_device, bus.publish, outbox.unit, "gw")
    credentials = CredentialStore(workdir)
    control = AccessControl(access, schedules, credentials, Ledger.load(database, outbox),
                            modes, bus.publish, outbox.unit, outbox.durable, no_device, {}, "gw")
    started = time.perf_counter()
    people = [PersonRecord(id=f"S{n:06d}", category="student") for n in range(holders)]
    cards = [CredentialRecord(code=str(30_000_000 + n), person_id=f"S{n:06d}")
             for n in range(holders)]
    for part in snapshot_parts(1, people, cards, per_part=holders * 2):
        await credentials.snapshot(part)
    loaded = time.perf_counter() - started
    rng = random.Random(7)
    inside: list[float] = []
    committed: list[float] = []
    for n in range(samples):
        code = str(30_000_000 + rng.randrange(holders)) if n % 10 else "999"
        request = AccessRequest("reader", "lane", f"lane-{n % 8}", "in" if n % 2 else "out",
                                code, time=datetime.now(UTC))
        t0 = time.perf_counter()
        with outbox.unit():
            control._decide(request)  # the decision alone: lookup, checks, events put
        t1 = time.perf_counter()
        await outbox.durable()  # and until its event is on disk
        t2 = time.perf_counter()
        inside.append((t1 - t0) * 1000)
        committed.append((t2 - t0) * 1000)
    print(f"decisions with {holders:,} credentials (loaded in {loaded:.1f} s), {samples} "
          "requests, one at a time, 1 in 10 unknown:")
    print(latency_row("decision (ms)", np.array(inside)))
    print(latency_row("decision + on disk (ms)", np.array(committed)))
    outbox.close(2.0)
    credentials.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["decision"], help="one part only")
    parser.add_argument("--credentials", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    quiet_logging()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp:
        if args.only in (None, "decision"):
            asyncio.run(_decisions(Path(tmp) / "decision", args.credentials, args.decisions))


if __name__ == "__main__":
    main()
