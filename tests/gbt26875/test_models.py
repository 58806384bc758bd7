"""The receiver's site-file section: validation, endpoints, inventory, the shipped example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from drivers.gbt26875.models import TransmissionReceiverConfig
from gateway.config import load_site
from tests.gbt26875.support import receiver_section

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "fire-gbt26875.yaml"


def validate(**changes: Any) -> TransmissionReceiverConfig:
    return TransmissionReceiverConfig.model_validate(receiver_section(9000, **changes))


def test_endpoints_and_inventory_name_the_transmitters() -> None:
    config = validate()
    assert config.endpoints() == ["gbt26875 listen 127.0.0.1:9000"]
    inventory = config.inventory()
    assert [entry["id"] for entry in inventory] == ["utd-building-b", "utd-gym"]
    assert inventory[0] == {
        "id": "utd-building-b", "driver": "gbt26875", "name": "Building B fire panel link",
        "zone": "building-b", "endpoint": "gbt26875 listen 127.0.0.1:9000",
        "address": "0A0B0C0D0E0F", "receiver": "fire-link",
    }
    assert config.transmitters[0].wire_address == bytes.fromhex("0A0B0C0D0E0F")
    assert config.centre == bytes.fromhex("000000000001")
    assert config.heartbeat_timeout == 30.0


def test_addresses_are_twelve_hex_digits_and_normalised() -> None:
    section = receiver_section(9000)
    section["transmitters"][0]["address"] = "0a0b0c0d0e0f"
    assert TransmissionReceiverConfig.model_validate(section).transmitters[0].address == (
        "0A0B0C0D0E0F"
    )
    for bad in ("0A0B0C0D0E", "0A0B0C0D0E0G", "0A:0B:0C:0D:0E:0F"):
        section["transmitters"][0]["address"] = bad
        with pytest.raises(ValidationError, match="address"):
            TransmissionReceiverConfig.model_validate(section)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["transmitters"][1].update(id="utd-building-b"), "ids must be unique"),
        (lambda s: s["transmitters"][1].update(address="0A0B0C0D0E0F"),
         "addresses must be unique"),
        (lambda s: s.update(centre_address="1A2B3C4D5E6F"), "also a transmitter"),
        (lambda s: s["transmitters"][0].update(id="fire-link"), "also the receiver"),
        (lambda s: s.update(heartbeat_timeout="0s"), "more than 0"),
        (lambda s: s.update(device_timezone="Mars/Olympus"), "unknown time zone"),
        (lambda s: s["transmitters"][0].update(variant={"time": "bcd", "checksum": "crc"}),
         "checksum"),
        (lambda s: s["transmitters"][0].update(colour="red"), "colour"),
        (lambda s: s.update(transmitters=[]), "at least 1"),
        (lambda s: s["transmitters"][0]["components"].append(
            {"system_address": 1, "component_address": 258}), "listed twice"),
        (lambda s: s.update(max_connections=5), "too little room for 2 transmitters"),
        (lambda s: s["transmitters"][0].update(peer="not an address"), "peer"),
    ],
)
def test_invalid_sections(change: Any, message: str) -> None:
    section = receiver_section(9000)
    change(section)
    with pytest.raises(ValidationError, match=message):
        TransmissionReceiverConfig.model_validate(section)


def test_component_lookup_by_system_and_address() -> None:
    transmitter = validate().transmitters[0]
    site = transmitter.component(1, 1, 258)
    assert site is not None and site.zone == "building-b-f2"
    assert transmitter.component(1, 2, 258) is None
    assert transmitter.component(5, 1, 258) is site  # no system_type given: any system type


def test_the_shipped_example_loads_and_validates() -> None:
    site = load_site(EXAMPLE)
    (receiver,) = site.devices
    assert isinstance(receiver, TransmissionReceiverConfig)
    variants = [t.variant.codec() for t in receiver.transmitters]
    assert [str(v) for v in variants] == ["time=binary checksum=sum", "time=bcd checksum=xor"]
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "validate", str(EXAMPLE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


def test_an_address_as_the_device_shows_it_is_turned_into_wire_order() -> None:
    from drivers.gbt26875.models import displayed

    section = receiver_section(9000)
    section["transmitters"][0]["address"] = "0x000379"
    config = TransmissionReceiverConfig.model_validate(section)
    assert config.transmitters[0].address == "790300000000"
    assert displayed(config.transmitters[0].wire_address) == "0x000000000379"
    section["transmitters"][0]["address"] = "0x1234567890ABC"  # 13 digits: too long
    with pytest.raises(ValidationError, match="1 to 12 hex digits"):
        TransmissionReceiverConfig.model_validate(section)
