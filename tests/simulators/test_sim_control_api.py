"""The HTTP control API over a real socket: uvicorn in the simulators' loop, httpx as the client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pymodbus.client import AsyncModbusTcpClient

from simulators.campus import SimulatedCampus
from simulators.control import ControlServer


def test_control_api_lists_acts_and_reports_errors(
    io_site: tuple[Path, int], free_port: Callable[[], int], run: Callable[..., Any]
) -> None:
    path, modbus_port = io_site

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path) as campus:
            control = ControlServer(campus, "127.0.0.1", free_port())
            await control.start()
            try:
                async with httpx.AsyncClient(base_url=control.url) as http:
                    await check_api(http, modbus_port)
            finally:
                await control.stop()

    run(scenario())


async def check_api(http: httpx.AsyncClient, modbus_port: int) -> None:
    listing = (await http.get("/devices")).json()
    assert listing["site"] == "test-campus"
    (device,) = listing["devices"]
    assert device["id"] == "hall-io"
    assert device["driver"] == "modbus"
    assert device["address"] == f"modbus tcp 127.0.0.1:{modbus_port} unit 1"
    assert device["online"] is True
    assert [p["id"] for p in device["points"]] == ["btn-1", "btn-2", "btn-nc"]
    assert "press" in device["actions"]

    answer = await http.post("/devices/hall-io/press", json={"point": "btn-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True and body["device"] == "hall-io"
    btn1 = body["state"]["points"][0]
    assert btn1["pressed"] is True
    assert btn1["inputs"][0] == {"role": "input", "address": 0, "level": 1}

    answer = await http.post("/devices/hall-io/line-fault", json={"point": "btn-1", "on": True})
    assert answer.json()["state"]["points"][0]["line_fault"] is True

    # A siren switched on by a Modbus client shows up in the API.
    client = AsyncModbusTcpClient("127.0.0.1", port=modbus_port, timeout=1, retries=0)
    assert await client.connect()
    await client.write_coil(0, True, device_id=1)
    client.close()
    state = (await http.get("/devices/hall-io")).json()
    assert state["outputs"][0] == {"name": "hall-siren", "kind": "siren", "coil": 0, "on": True}

    answer = await http.post("/devices/hall-io/offline", json={"mode": "silent"})
    assert answer.json()["state"]["online"] is False
    assert answer.json()["state"]["offline_mode"] == "silent"
    answer = await http.post("/devices/hall-io/online")  # no body at all is fine
    assert answer.json()["state"]["online"] is True

    # Errors name what was wrong.
    answer = await http.post("/devices/no-such-io/press", json={"point": "btn-1"})
    assert answer.status_code == 404
    assert answer.json() == {
        "ok": False,
        "error": "no device 'no-such-io' (devices: hall-io)",
    }
    answer = await http.get("/devices/no-such-io")
    assert answer.status_code == 404

    answer = await http.post("/devices/hall-io/dance", json={})
    assert answer.status_code == 404
    assert "unknown action 'dance'" in answer.json()["error"]

    answer = await http.post("/devices/hall-io/press", json={"point": "btn-9"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "hall-io: no point 'btn-9' (points: btn-1, btn-2, btn-nc)"

    answer = await http.post("/devices/hall-io/press", json={})
    assert answer.status_code == 422
    assert "point: Field required" in answer.json()["error"]

    answer = await http.post("/devices/hall-io/offline", json={"mode": "unplugged"})
    assert answer.status_code == 422
    assert "mode" in answer.json()["error"]

    answer = await http.post("/devices/hall-io/press", content=b"[1, 2]")
    assert answer.status_code == 422
    assert "JSON object" in answer.json()["error"]
