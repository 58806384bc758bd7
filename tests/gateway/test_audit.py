"""The audit log rotates without losing a record, and stays bounded under a flood."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.audit import AuditLog, bounded_args


def test_rotation_keeps_every_record_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"

    async def scenario() -> None:
        audit = AuditLog(path, max_bytes=4000, keep=50)
        audit.start()
        for n in range(300):
            if n % 3:
                audit.record({"n": n, "command": "alarm.acknowledge", "outcome": "denied"})
            else:
                await audit.record_durably({"n": n, "command": "alarm.reset", "outcome": "ok"})
        await asyncio.to_thread(audit.close)

    asyncio.run(scenario())
    files = sorted(tmp_path.glob("audit.jsonl*"), key=lambda p: -int(p.suffix[1:])
                   if p.suffix[1:].isdigit() else 0)
    assert len(files) > 3, "it rotated"
    numbers = [json.loads(line)["n"] for f in files for line in f.read_text().splitlines()]
    assert numbers == list(range(300))
    assert all(f.stat().st_size < 4000 + 200 for f in files)


def test_oversized_arguments_are_cut_and_say_so() -> None:
    cut = bounded_args({"blob": "x" * 60_000})
    assert len(cut["_cut"]) == 1024 and cut["_bytes"] > 60_000
    assert bounded_args({"alarm_id": "alm-1"}) == {"alarm_id": "alm-1"}
