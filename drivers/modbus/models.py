"""Site-file section for a Modbus I/O module: its link, its points and its outputs, as data.

A ``profile:`` names a YAML file (in the site file's ``profiles/`` folder or the shipped
``config/profiles/``) whose keys are defaults for this section; keys in the site file win.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from gateway.kernel.documents import DocumentError, read_yaml
from gateway.kernel.fields import Identifier, Seconds, Strict

SHIPPED_PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"


class TcpLink(Strict):
    host: str
    port: int = Field(default=502, ge=1, le=65535)


class RtuLink(Strict):
    port: str = Field(description="serial device, e.g. /dev/ttyUSB0")
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class PanicPoint(Strict):
    """One button wired to a discrete input, with its optional supervision inputs."""

    id: Identifier
    input: int = Field(ge=0, le=65535, description="discrete input address (0-based)")
    zone: Identifier
    location: str = ""
    name: str = ""
    active_low: bool = Field(default=False, description="normally-closed contact: 0 means pressed")
    line_fault_input: int | None = Field(default=None, ge=0, le=65535)
    tamper_input: int | None = Field(default=None, ge=0, le=65535)


class Output(Strict):
    """A coil driving a siren, strobe or relay (door release, sounder).

    Sirens and strobes follow the panic alarms of their ``zones`` (every zone if empty); relays
    move only when a linkage rule or a command says so.
    """

    name: Identifier
    coil: int = Field(ge=0, le=65535)
    kind: Literal["siren", "strobe", "relay"] = "siren"
    zones: list[Identifier] = []

    @property
    def follows_panic(self) -> bool:
        return self.kind in ("siren", "strobe")


class ModbusIoConfig(Strict):
    driver: Literal["modbus"]
    id: Identifier
    name: str = ""
    profile: str | None = None
    tcp: TcpLink | None = None
    rtu: RtuLink | None = None
    unit: int = Field(default=1, ge=0, le=247, description="Modbus device id (slave address)")
    poll_interval: Seconds = Field(default=0.1, ge=0.01, le=3600)
    debounce: Seconds = Field(
        default=0.1, le=60, description="after a change is accepted, further changes wait this long"
    )
    timeout: Seconds = Field(default=1.0, ge=0.05, le=60)
    offline_after: int = Field(default=3, ge=1, le=10, description="failed polls before offline")
    points: list[PanicPoint] = Field(min_length=1)
    outputs: list[Output] = []

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not data.get("profile"):
            return data
        name = str(data["profile"])
        base = (info.context or {}).get("base_dir")
        candidates = [Path(base) / "profiles" / f"{name}.yaml"] if base else []
        candidates.append(SHIPPED_PROFILES / f"{name}.yaml")
        for candidate in candidates:
            if candidate.is_file():
                try:
                    defaults = read_yaml(candidate).data or {}
                except DocumentError as exc:
                    raise ValueError(str(exc)) from None
                if not isinstance(defaults, dict):
                    raise ValueError(f"profile {candidate} is not a mapping")
                return {**defaults, **data}
        raise ValueError(f"profile {name!r} not found in {', '.join(map(str, candidates))}")

    @model_validator(mode="after")
    def _check(self) -> ModbusIoConfig:
        if (self.tcp is None) == (self.rtu is None):
            raise ValueError("give exactly one of tcp or rtu")
        used: dict[int, str] = {}
        for point in self.points:
            for role, address in (
                ("input", point.input),
                ("line_fault_input", point.line_fault_input),
                ("tamper_input", point.tamper_input),
            ):
                if address is None:
                    continue
                if address in used:
                    raise ValueError(
                        f"input {address} of point {point.id!r} ({role}) is already {used[address]}"
                    )
                used[address] = f"{point.id}.{role}"
        ids = [p.id for p in self.points]
        if len(set(ids)) != len(ids):
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"point ids must be unique: {repeated}")
        if max(used) - min(used) >= 2000:
            raise ValueError("inputs must fit in one read of 2000 discrete inputs")
        if len({o.coil for o in self.outputs}) != len(self.outputs):
            raise ValueError("two outputs share a coil")
        if len({o.name for o in self.outputs}) != len(self.outputs):
            raise ValueError("two outputs share a name")
        return self

    def endpoints(self) -> list[str]:
        if self.tcp is not None:
            return [f"modbus tcp {self.tcp.host}:{self.tcp.port} unit {self.unit}"]
        assert self.rtu is not None
        return [f"modbus rtu {self.rtu.port} unit {self.unit}"]

    def inventory(self) -> list[dict[str, Any]]:
        """What the retained device inventory says about this device."""
        return [{
            "id": self.id,
            "driver": self.driver,
            "name": self.name,
            "endpoint": self.endpoints()[0],
            "points": [{"id": p.id, "zone": p.zone, "location": p.location} for p in self.points],
            "outputs": [{"name": o.name, "kind": o.kind} for o in self.outputs],
        }]

    def input_span(self) -> tuple[int, int]:
        """First input address and count of the one read that covers every point."""
        addresses = [
            a
            for p in self.points
            for a in (p.input, p.line_fault_input, p.tamper_input)
            if a is not None
        ]
        return min(addresses), max(addresses) - min(addresses) + 1
