"""The ONVIF driver against every camera dialect the simulator speaks (simulators/onvif/
dialects.py), over real sockets: the camera stays up whatever the dialect, what the dialect
record says is degraded is exactly what the driver reports unavailable, and everything else
works (events, snapshot from the camera's URI, a PTZ preset)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.kernel.events import MediaReference
from simulators.dialects import Dialect, families
from tests.onvif.support import facts, rig, run, stanza, state, statuses, wait_for

CAMERA_DIALECTS = list(families()["onvif"].values())


@pytest.mark.parametrize("dialect", CAMERA_DIALECTS, ids=lambda d: d.name)
def test_the_driver_holds_up_against_the_dialect(dialect: Dialect, tmp_path: Path) -> None:
    async def scenario() -> None:
        spoken = stanza(simulator={"dialect": dialect.name})
        async with rig(stanza(), media_dir=tmp_path, sim_sections=[spoken]) as r:
            await wait_for(lambda: state(r.sink) == "up")
            if "events" not in dialect.degraded:
                await wait_for(lambda: r.driver.pulls > 0)
                await r.camera.act("walk", {"seconds": 0.5})
                await wait_for(lambda: [f for f in facts(r.sink, "motion") if f.active])
            reference = MediaReference.model_validate(
                await r.driver.execute("snapshot", {"reason": "dialect check"}))
            assert reference.source == "snapshot_uri"
            if "ptz" not in dialect.degraded:
                await r.driver.execute("ptz_preset", {"preset": "street"})
                assert r.camera.head.moves == 1
            status = r.driver.status()
            assert set(status.get("unavailable", {})) == set(dialect.degraded)
            assert {key: status.get(key) for key in dialect.status} == dict(dialect.status)
            assert [s.state for s in statuses(r.sink)] == ["up"]
            assert [online for _, online, _ in r.sink.availability_reports] == [True]

    run(scenario())
