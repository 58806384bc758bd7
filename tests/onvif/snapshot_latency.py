"""Snapshot latency: ``execute("snapshot")`` to the CAMERA_SNAPSHOT reference reported, against
the camera simulator on loopback (JPEG fetched over digest HTTP, stored in a real MediaStore).

    .venv/bin/python -m tests.onvif.snapshot_latency [--count 200] [--source snapshot_uri]

A benchmark, not a test (it prints figures; bench/ is the place for it once moved there).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from gateway.kernel.events import CAMERA_SNAPSHOT
from tests.onvif.support import rig, stanza, subscribed


async def measure(count: int, source: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="snapshot-latency-"))
    grabbed = {"ring": {"seconds": 2, "fps": 5}, "clip": {"pre": 1, "post": 1}}
    section = stanza(snapshot={"source": source}, **(grabbed if source == "stream" else {}))
    async with rig(section, media_dir=folder) as r:
        await subscribed(r.driver)
        if source == "stream":
            await asyncio.sleep(1.5)  # the grabber has frames
        seconds: list[float] = []
        for n in range(count + 1):
            before = len(r.sink.events)
            started = time.perf_counter()
            await r.driver.execute("snapshot", {"alarm_id": f"alm-{n}", "reason": "bench"})
            assert any(e.type is CAMERA_SNAPSHOT for e in r.sink.events[before:])
            seconds.append(time.perf_counter() - started)
        first, rest = seconds[0], sorted(seconds[1:])
        p95 = rest[int(0.95 * (len(rest) - 1))]
        print(f"source {source}: first (new connection and digest challenge) "
              f"{first * 1000:.1f} ms; then {len(rest)} snapshots: p50 "
              f"{statistics.median(rest) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max "
              f"{rest[-1] * 1000:.1f} ms; {r.sink.media.total_bytes / len(seconds) / 1024:.0f}"
              " KiB each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--source", default="snapshot_uri", choices=["snapshot_uri", "stream"])
    args = parser.parse_args()
    asyncio.run(measure(args.count, args.source))


if __name__ == "__main__":
    main()
