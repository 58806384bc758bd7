"""Site-file section for a GB/T 26875.3 receiver: where it listens and which transmitters it knows.

The gateway is the monitoring centre; transmission devices connect to it. Each transmitter is a
device of its own in the event stream (its ``id`` is the events' device id), so the inventory
lists transmitters, not the receiver. Addresses are the 6 address bytes as 12 hex digits in wire
order, exactly as they appear in a hex dump of a frame.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    IPvAnyAddress,
    model_validator,
)

from drivers.gbt26875.timelabel import Variant
from gateway.kernel.fields import Identifier, Seconds, Strict, TimeZone


def _wire_order(value: object) -> object:
    """``0x...`` is the address as devices display it (a number): turned into wire order."""
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        digits = value[2:]
        if not 1 <= len(digits) <= 12 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError(f"{value!r}: 0x and 1 to 12 hex digits, as the device shows it")
        return int(digits, 16).to_bytes(6, "little").hex().upper()
    return value


def displayed(wire: bytes) -> str:
    """An address as devices and other centres display it: the 6-byte number, in hex."""
    return f"0x{int.from_bytes(wire, 'little'):012X}"


HexAddress = Annotated[
    str,
    BeforeValidator(_wire_order),
    Field(pattern=r"^[0-9A-Fa-f]{12}$",
          description="as the device shows it: 0x000000000379; or the 6 bytes in wire order, "
                      "as in a hex dump of a frame: 790300000000"),
    AfterValidator(str.upper),
]


class Listen(Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=9000, ge=1, le=65535)


class FrameVariant(Strict):
    """A vendor's way of writing frames; set only for transmitters known to need it."""

    time: Literal["binary", "bcd"] = "binary"
    checksum: Literal["sum", "xor"] = "sum"
    padding: int = Field(default=0, ge=0, le=16,
                         description="bytes the vendor puts after each object (ignored)")

    def codec(self) -> Variant:
        return Variant(self.time, self.checksum, self.padding)


class ComponentSite(Strict):
    """Where a component behind a transmitter is, for the events about it."""

    system_type: int | None = Field(
        default=None, ge=0, le=255, description="match only this system type (any if omitted)"
    )
    system_address: int = Field(default=1, ge=0, le=255)
    component_address: int = Field(ge=0, le=0xFFFFFFFF)
    zone: Identifier | None = Field(default=None, description="default: the transmitter's zone")
    location: str = ""


class Transmitter(Strict):
    id: Identifier
    address: HexAddress
    name: str = ""
    zone: Identifier
    peer: IPvAnyAddress | None = Field(
        default=None, description="IP address the device connects from: its connections are "
        "never crowded out by others")
    variant: FrameVariant = FrameVariant()
    components: list[ComponentSite] = []

    @property
    def wire_address(self) -> bytes:
        return bytes.fromhex(self.address)

    @model_validator(mode="after")
    def _unique_components(self) -> Transmitter:
        keys = [(c.system_type, c.system_address, c.component_address) for c in self.components]
        if len(set(keys)) != len(keys):
            raise ValueError(f"transmitter {self.id!r}: a component is listed twice")
        return self

    def component(self, system_type: int, system_address: int,
                  component_address: int) -> ComponentSite | None:
        for site in self.components:
            if (site.system_address == system_address
                    and site.component_address == component_address
                    and site.system_type in (None, system_type)):
                return site
        return None


class TransmissionReceiverConfig(Strict):
    driver: Literal["gbt26875"]
    id: Identifier
    name: str = ""
    listen: Listen
    centre_address: HexAddress = Field(
        default="000000000001", description="the gateway's own address as a monitoring centre"
    )
    heartbeat_timeout: Seconds = Field(
        default=90.0, le=86400,
        description="no valid frame from a transmitter for this long: offline")
    device_timezone: TimeZone = Field(
        default="Asia/Shanghai", description="time zone of the transmitters' clocks (IANA name)"
    )
    max_connections: int = Field(default=64, ge=1, le=4096)
    max_connections_per_peer: int = Field(
        default=8, ge=1, le=4096,
        description="connections one IP address may hold that have not identified themselves")
    identify_within: Seconds = Field(
        default=10.0, gt=0, le=600,
        description="a connection with no valid frame from a listed transmitter by then is closed")
    transmitters: list[Transmitter] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> TransmissionReceiverConfig:
        if self.heartbeat_timeout <= 0:
            raise ValueError("heartbeat_timeout must be more than 0")
        ids = [t.id for t in self.transmitters]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"transmitter ids must be unique: {repeated}")
        if self.id in ids:
            raise ValueError(f"transmitter id {self.id!r} is also the receiver's id")
        addresses = [t.address for t in self.transmitters]
        repeated = sorted({a for a in addresses if addresses.count(a) > 1})
        if repeated:
            raise ValueError(f"transmitter addresses must be unique: {repeated}")
        if self.max_connections < len(self.transmitters) + 4:
            raise ValueError(f"max_connections {self.max_connections} leaves too little room for"
                             f" {len(self.transmitters)} transmitters: give at least "
                             f"{len(self.transmitters) + 4}")
        if self.centre_address in addresses:
            raise ValueError(f"centre_address {self.centre_address} is also a transmitter's")
        return self

    @property
    def centre(self) -> bytes:
        return bytes.fromhex(self.centre_address)

    @property
    def timezone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.device_timezone)

    def transmitter(self, transmitter_id: str) -> Transmitter | None:
        return next((t for t in self.transmitters if t.id == transmitter_id), None)

    def endpoints(self) -> list[str]:
        return [f"gbt26875 listen {self.listen.host}:{self.listen.port}"]

    def inventory(self) -> list[dict[str, Any]]:
        """One entry per transmitter: the events name transmitters, not the receiver."""
        return [
            {
                "id": t.id,
                "driver": self.driver,
                "name": t.name,
                "zone": t.zone,
                "endpoint": self.endpoints()[0],
                "address": t.address,
                "receiver": self.id,
            }
            for t in self.transmitters
        ]
