"""The site-file stanza: what it accepts, what it refuses with a reason, what it tells the rest
of the gateway (listen address, endpoints, inventory, gates, doors); a receiver that cannot
start says why; the campus builds the simulators from the same stanza."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from drivers import DRIVERS
from drivers.http_gate import HttpGateReceiver, HttpGateReceiverConfig
from gateway.config import load_site
from gateway.kernel.fields import ConfigError
from gateway.kernel.ports import DeviceUnavailable
from simulators.campus import SimulatedCampus
from tests.http_gate.support import (
    ACCESS,
    VEHICLE,
    Sink,
    isapi_controller,
    run,
    section,
    until,
    webhook_controller,
)


def _site(tmp_path: Path, *devices: dict[str, Any], **extra: Any) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"site": {"id": "school-1"}, "access": ACCESS,
                                    "devices": list(devices), **extra}), encoding="utf-8")
    return path


def test_the_stanza_in_a_site_file(tmp_path: Path) -> None:
    site = load_site(_site(tmp_path, section(isapi_controller(), webhook_controller())))
    (config,) = site.devices
    assert isinstance(config, HttpGateReceiverConfig)
    assert DRIVERS["http_gate"] is HttpGateReceiver
    assert config.gates() == {"north-vehicle", "east-pedestrian"}
    assert config.doors() == {"north-barrier", "east-lane-in", "east-lane-out"}
    assert [entry["id"] for entry in config.inventory()] == [VEHICLE, "east-turnstile"]
    assert config.inventory()[0]["gates"] == ["north-vehicle"]
    assert config.endpoints()[0].startswith("http_gate listen 127.0.0.1:")


def test_gates_and_doors_must_be_in_the_access_section(tmp_path: Path) -> None:
    stranger = isapi_controller()
    stranger["doors"] = [{"door": 1, "gate": "south", "direction": "in", "door_id": "s-door"}]
    with pytest.raises(ConfigError, match=r"gate 'south' is not in access\.gates"):
        load_site(_site(tmp_path, section(stranger)))


def test_the_listen_address_is_checked_against_the_other_servers(tmp_path: Path) -> None:
    stanza = section(isapi_controller())
    stanza["listen"] = {"host": "0.0.0.0", "port": 8443}
    with pytest.raises(ConfigError, match=r"clashes with console\.listen"):
        load_site(_site(tmp_path, stanza))


@pytest.mark.parametrize(("change", "message"), [
    ({"command": None}, "mode asks needs command"),
    ({"push_auth": None, "identity": {}}, "give push_auth"),
    ({"secret": {"env": "X"}}, "secret is for the webhook dialect"),
    ({"doors": [{"door": 1, "gate": "a", "direction": "in"},
                {"door": 1, "reader": 2, "gate": "b", "direction": "out"}]},
     "mapped to several gates"),
    ({"identity": {"mac": "not-a-mac"}}, "is not a MAC address"),
    ({"command": {"url": "http://10.0.0.5"}}, "command.password is required"),
])
def test_an_isapi_controller_that_cannot_work_is_refused(change: dict[str, Any],
                                                         message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HttpGateReceiverConfig.model_validate(section({**isapi_controller(), **change}))


def test_webhook_controllers_need_a_secret_and_controllers_must_be_told_apart() -> None:
    with pytest.raises(ValidationError, match="needs secret"):
        HttpGateReceiverConfig.model_validate(section({**webhook_controller(), "secret": None}))
    twin = {**isapi_controller(), "id": "twin", "identity": {},
            "command": {**isapi_controller()["command"], "url": "http://127.0.0.1:1"}}
    with pytest.raises(ValidationError, match=r"push_auth\.username must be unique"):
        HttpGateReceiverConfig.model_validate(section(isapi_controller(), twin))
    with pytest.raises(ValidationError, match="also the receiver's id"):
        HttpGateReceiverConfig.model_validate(section({**isapi_controller(),
                                                       "id": "gate-controllers"}))


def test_a_receiver_that_cannot_start_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    config = HttpGateReceiverConfig.model_validate(section(isapi_controller()))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", config.listen.port))
        taken.listen()
        with pytest.raises(DeviceUnavailable, match="cannot listen"):
            run(HttpGateReceiver(config, Sink()).run())
    monkeypatch.delenv("HG_TEST_PUSH")
    with pytest.raises(DeviceUnavailable, match="HG_TEST_PUSH"):
        run(HttpGateReceiver(config, Sink()).run())


def test_the_campus_builds_the_controllers_from_the_site_file(tmp_path: Path) -> None:
    site = load_site(_site(tmp_path, section(isapi_controller("decides"))))

    async def scenario() -> None:
        sink = Sink()
        receiver = HttpGateReceiver(site.devices[0], sink)  # type: ignore[arg-type]
        running = asyncio.create_task(receiver.run())
        await until(lambda: receiver.serving, "the receiver")
        async with SimulatedCampus(site) as campus:
            await campus.act("gate-controllers", "enrol", {"card": "1001"})
            state = await campus.act("gate-controllers", "present-card", {"card": "1001"})
            assert state["controllers"][0]["cards"] == ["1001"]
            await until(lambda: sink.requests, "the credential")
            assert sink.requests[0].decided_by_device is True
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    run(scenario())
