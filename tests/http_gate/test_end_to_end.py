"""A controller's retried push through the real gateway (its own process, mosquitto, the central
platform's subscriber): a read the controller decided itself, dated 9999 by its clock, sent
again after the gateway restarted (our first answer lost), is one ``access.granted`` with one id
and the receipt time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from simulators.http_gate import ControllerFleet, SimulatedController
from tests.conftest import Mosquitto, Subscriber
from tests.http_gate.support import ENV, MAC, VEHICLE, isapi_controller, section
from tests.rig import GatewayProcess, SimulatorThread, site_file

ACCESS = {"gates": [{"id": "north-vehicle"}],
          "doors": [{"id": "north-barrier", "gate": "north-vehicle"}]}
READ = (f'{{"macAddress": "{MAC}", "dateTime": "9999-12-31T23:59:59+08:00", '
        '"eventType": "AccessControllerEvent", "AccessControllerEvent": {"majorEventType": 5, '
        '"subEventType": 1, "cardNo": "5001", "doorNo": 1, "cardReaderNo": 1, '
        '"serialNo": 77}}').encode()


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def test_a_read_sent_again_after_a_restart_is_one_event_at_the_receipt_time(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=0, extra={
        "access": ACCESS, "devices": [section(isapi_controller("decides"))]})
    sims = SimulatorThread(site)
    fleet = sims.campus.device("gate-controllers")
    assert isinstance(fleet, ControllerFleet)
    controller = fleet.controller(VEHICLE)
    assert isinstance(controller, SimulatedController)

    def push() -> int:
        """The read, sent until the receiver takes requests (as the controller would)."""
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _ = sims.run(lambda: controller.push_raw(READ, "application/json"))
                return status
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", device=VEHICLE, timeout=20)
        assert push() == 200
        (granted,) = subscriber.wait_event("access.granted", timeout=10)
        gateway.stop()
        gateway = GatewayProcess(site).start()
        assert push() == 200  # answered, as the first time
        subscriber.wait_event("device.online", device=VEHICLE, count=2, timeout=10)
        subscriber.settle()
        assert [e["id"] for e in subscriber.events("access.granted")] == [granted["id"]]
        when = datetime.fromisoformat(granted["time"].replace("Z", "+00:00"))
        assert abs(when - datetime.now(UTC)) < timedelta(minutes=5)
        assert granted["devicetime"].startswith("9999-12-31"), granted  # the device's own
    finally:
        gateway.stop()
        sims.stop()
