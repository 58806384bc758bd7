"""The ``driver: onvif`` stanza as the simulator reads it."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.kernel.fields import Secret
from simulators.families import SIMULATORS
from simulators.onvif import OnvifCameraConfig, OnvifCameraSimulators
from tests.onvif_sim.support import stanza


def test_stanza_defaults_and_extra_keys() -> None:
    config = OnvifCameraConfig.read(stanza(analytics={"people": True}))
    assert config.port == 0 and config.scene == "gate" and config.presets == ["gate", "street"]
    assert config.simulator.size == (640, 480) and config.simulator.fps == 10
    assert config.simulator.discovery is False and config.simulator.clock_offset == 0
    assert config.model_extra == {"analytics": {"people": True}}
    assert config.endpoints() == ["onvif http://127.0.0.1:0/onvif/device_service"]


@pytest.mark.parametrize("change", [
    {"presets": ["gate", "gate"]},
    {"scene": "car-park"},
    {"password": "in-the-file"},
    {"simulator": {"resolution": "641x480"}},
    {"simulator": {"fps": 0}},
    {"simulator": {"typo": 1}},
])
def test_stanza_refuses(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OnvifCameraConfig.read(stanza(**change))


def test_family_is_registered_and_takes_the_drivers_model() -> None:
    assert "onvif" in SIMULATORS

    class DriverConfig(BaseModel):  # stands in for drivers/onvif/models.py, not written yet
        model_config = ConfigDict(extra="forbid", frozen=True)
        id: str
        driver: Literal["onvif"]
        host: str
        port: int
        username: str
        password: Secret
        presets: list[str] = []
        scene: str = "stairwell"

    family = OnvifCameraSimulators([DriverConfig(
        id="stair-cam", driver="onvif", host="127.0.0.1", port=0, username="admin",
        password=Secret(env="X"))])
    camera = family.devices[0]
    assert camera.device_id == "stair-cam" and camera.config.scene == "stairwell"
    assert not camera.head.enabled
