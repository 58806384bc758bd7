"""The abuse suite: every driver family's device misbehaves through real sockets (floods,
oversized fields, malformed frames, time extremes, slow and hung peers, retries) while a panic
button on a Modbus I/O module is pressed, and the press must reach the central platform.

One gateway process per family (the cases of a family share it, and each leaves its device as
it found it); the families and their abuses are ``tests.abuse.registry``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers import DRIVERS
from tests.abuse.abuses import ABUSES, AbuseRig, Family, unobserved
from tests.abuse.registry import FAMILIES
from tests.conftest import Mosquitto, Subscriber
from tests.rig import GatewayProcess, SimulatorThread, site_file

PANIC_MODULE = "io-0"
# Small budgets, so a flood shows within a second or two and ends as soon as it stops.
FLOOD = {"burst": 20, "per_second": 5, "ends_after": "1s"}


def family_site(tmp_path: Path, broker: str, family: Family) -> Path:
    path = site_file(tmp_path, broker, modules=1, extra={"flood": FLOOD, **family.site})
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    doc["devices"].extend(family.devices(tmp_path))
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def family_rig(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbuseRig]:
    family: Family = request.param
    saved = {k: os.environ.get(k) for k in family.env}
    os.environ.update(family.env)
    tmp_path = tmp_path_factory.mktemp(family.name)
    broker = Mosquitto(tmp_path)
    broker.start()
    sub = Subscriber(broker.url)
    site = family_site(tmp_path, broker.url, family)
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    rig = AbuseRig(family, site, sims, gateway, sub)
    try:
        for device in (PANIC_MODULE, *family.ready):
            sub.wait_event("device.online", device=device, timeout=30)
        family.prepare(rig)
        yield rig
    finally:
        family.finish(rig)
        gateway.stop()
        sims.stop()
        sub.close()
        broker.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert "Traceback" not in gateway.output(), gateway.output()[-3000:]


def press_panic(rig: AbuseRig) -> float:
    """Press the other module's button; seconds until ``panic.pressed`` reached us."""
    mark = rig.mark()
    pressed = time.monotonic()
    rig.sims.press(PANIC_MODULE, "btn-a")
    try:
        rig.wait(mark, "panic.pressed", PANIC_MODULE, timeout=10)
        latency = time.monotonic() - pressed
    finally:
        rig.sims.release(PANIC_MODULE, "btn-a")
    rig.wait(mark, "panic.released", PANIC_MODULE, timeout=10)
    return latency


@pytest.mark.parametrize("abuse_name", ABUSES)
@pytest.mark.parametrize("family_rig", FAMILIES, indirect=True, ids=lambda f: f.name)
def test_an_abused_device_never_stops_another_devices_panic(
        family_rig: AbuseRig, abuse_name: str, request: pytest.FixtureRequest) -> None:
    abuse = family_rig.family.abuses[abuse_name]
    if abuse.not_applicable:
        pytest.skip(f"{family_rig.family.name} {abuse_name} not applicable: "
                    f"{abuse.not_applicable}")
    if abuse.missing:
        pytest.skip(f"{family_rig.family.name} {abuse_name} cannot be played yet: "
                    f"{abuse.missing}")
    if abuse.known_defect:
        request.applymarker(pytest.mark.xfail(strict=True, reason=abuse.known_defect))
    rig = family_rig
    mark = rig.mark()
    abuse.start(rig)
    try:
        latency = press_panic(rig)
        print(f"\n{rig.family.name} {abuse_name}: panic press -> MQTT {latency * 1000:.0f} ms")
        abuse.observe(rig, mark)
    finally:
        abuse.stop(rig)
    assert rig.gateway.proc is not None and rig.gateway.proc.poll() is None, "the gateway died"
    assert "Traceback" not in rig.gateway.output(), rig.gateway.output()[-3000:]


def test_every_driver_has_an_abuse_family() -> None:
    """A driver the gateway knows but the suite does not would go unabused: fail until added."""
    covered = {family.driver for family in FAMILIES}
    assert set(DRIVERS) <= covered, f"no abuse family for {sorted(set(DRIVERS) - covered)}"
    for family in FAMILIES:
        assert set(family.abuses) == set(ABUSES), family.name
        for name, abuse in family.abuses.items():
            assert abuse.not_applicable or abuse.missing or abuse.observe is not unobserved, (
                f"{family.name} {name}: no observable")
