"""The transmitter simulators as a campus family: same site file, control API, real receiver."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import yaml

from drivers.gbt26875.driver import TransmissionReceiver
from drivers.gbt26875.models import TransmissionReceiverConfig
from gateway.config import load_site
from simulators.campus import SimulatedCampus
from simulators.control import ControlServer
from simulators.families import SIMULATORS
from simulators.gbt26875 import TransmissionDeviceSimulators, TransmitterFleet
from tests.gbt26875.support import RecordingSink, free_port, receiver_section, run, until

B = "utd-building-b"


def test_the_family_is_registered() -> None:
    assert SIMULATORS["gbt26875"] is TransmissionDeviceSimulators


def test_the_campus_plays_every_transmitter_of_the_site_file(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(
        {"site": {"id": "test-campus"}, "devices": [receiver_section(free_port())]},
        allow_unicode=True,
    ), encoding="utf-8")

    async def scenario() -> None:
        site = load_site(path)
        config = site.device("fire-link")
        assert isinstance(config, TransmissionReceiverConfig)
        sink = RecordingSink()
        task = asyncio.create_task(TransmissionReceiver(config, sink).run())
        try:
            async with SimulatedCampus(site) as campus:
                fleet = campus.device("fire-link")
                assert isinstance(fleet, TransmitterFleet)
                assert "utd-building-b (0A0B0C0D0E0F)" in fleet.summary()
                control = ControlServer(campus, "127.0.0.1", free_port())
                await control.start()
                try:
                    async with httpx.AsyncClient(base_url=control.url) as http:
                        await until(lambda: fleet.online and len(sink.availability_changes) == 2,
                                    "both transmitters connected")
                        await check_control_api(http, sink)
                finally:
                    await control.stop()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    run(scenario())


async def check_control_api(http: httpx.AsyncClient, sink: RecordingSink) -> None:
    (device,) = (await http.get("/devices")).json()["devices"]
    assert device["id"] == "fire-link" and device["driver"] == "gbt26875"
    assert [t["id"] for t in device["transmitters"]] == [B, "utd-gym"]
    assert device["transmitters"][1]["variant"] == {"time": "bcd", "checksum": "xor"}
    assert "send-malformed" in device["actions"]

    answer = await http.post("/devices/fire-link/fire", json={
        "transmitter": B, "component_address": 258, "description": "二层东走廊感烟探测器"})
    assert answer.status_code == 200, answer.text
    (component,) = answer.json()["state"]["transmitters"][0]["components"]
    assert component["conditions"] == ["fire alarm"]
    await until(lambda: sink.of("campus.fire.alarm", B), "the alarm at the receiver")

    missing = await http.post("/devices/fire-link/fire", json={"component_address": 1})
    assert missing.status_code == 422 and "give transmitter" in missing.json()["error"]
    wrong = await http.post("/devices/fire-link/send-malformed",
                            json={"transmitter": B, "kind": "spaghetti"})
    assert wrong.status_code == 422
    unknown = await http.post("/devices/fire-link/explode", json={})
    assert unknown.status_code == 404
