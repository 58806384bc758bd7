"""Site-file section for a fire panel read over Modbus: its link, its profile and its points.

The register layout comes from the profile (``profile: NAME``, see ``catalog``); the site file
adds what only the site knows: zone names for the panel's zone numbers, and per point the zone,
location and description people should read in an alarm. The profile's ``defaults`` fill the
polling keys the section leaves out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from drivers.modbus.models import RtuLink, TcpLink
from drivers.modbus_fire.catalog import find_register_map
from drivers.modbus_fire.register_map import FirePoint, RegisterMap, loop_point_id
from gateway.kernel.fields import Identifier, Seconds, Strict

# How long a dead panel may go unnoticed (GB 26875.1: a fire alarm reaches the centre in 10 s).
MAX_DETECTION_SECONDS = 10.0


class SitePoint(Strict):
    """What the site says about one loop point; anything left out comes from the profile."""

    loop: int = Field(ge=0, le=255)
    point: int = Field(ge=0, le=65535)
    zone: Identifier | None = Field(default=None, description="zone name, e.g. building-a-f2")
    location: str = ""
    description: str | None = None
    component_type: str | None = None

    @property
    def id(self) -> str:
        return loop_point_id(self.loop, self.point)


class PointFacts(Strict):
    """Everything an event says about a point, after the site file and the profile are merged."""

    zone: str = ""
    location: str = ""
    description: str = ""
    component_type: str = ""


class ModbusFireConfig(Strict):
    driver: Literal["modbus_fire"]
    id: Identifier
    name: str = ""
    profile: Identifier = Field(description="register map: profiles/fire/NAME.yaml")
    tcp: TcpLink | None = None
    rtu: RtuLink | None = None
    unit: int = Field(default=1, ge=0, le=247, description="Modbus device id (slave address)")
    poll_interval: Seconds = Field(default=0.1, ge=0.01, le=3600)
    timeout: Seconds = Field(default=1.0, ge=0.05, le=60)
    offline_after: int = Field(default=3, ge=1, le=10, description="failed polls before offline")
    zones: dict[int, Identifier] = Field(
        default_factory=dict, description="panel zone number -> zone name"
    )
    points: list[SitePoint] = []

    _register_map: RegisterMap | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _with_register_map(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> ModbusFireConfig:
        """Load the profile first: its defaults fill the section, its points check the site's."""
        if not isinstance(data, dict) or not isinstance(data.get("profile"), str):
            config: ModbusFireConfig = handler(data)
            return config
        base = (info.context or {}).get("base_dir")
        register_map = find_register_map(data["profile"], Path(base) if base else None)
        defaults = register_map.profile.defaults.model_dump(exclude_none=True)
        config = handler({**defaults, **data})
        config._register_map = register_map
        config._check_points(register_map)
        return config

    @model_validator(mode="after")
    def _check(self) -> ModbusFireConfig:
        if (self.tcp is None) == (self.rtu is None):
            raise ValueError("give exactly one of tcp or rtu")
        worst = self.offline_after * (self.timeout + self.poll_interval)
        if worst > MAX_DETECTION_SECONDS:
            raise ValueError(
                f"a dead panel would be reported only after {worst:g} s"
                f" (offline_after x (timeout + poll_interval)); keep it within"
                f" {MAX_DETECTION_SECONDS:g} s"
            )
        return self

    def _check_points(self, register_map: RegisterMap) -> None:
        seen: set[str] = set()
        for index, point in enumerate(self.points):
            if point.id not in register_map.points:
                loops = sorted({p.loop for p in register_map.loop_points if p.loop is not None})
                raise ValueError(
                    f"points[{index}]: profile {self.profile} has no point {point.id}"
                    f" (loops {', '.join(map(str, loops))})"
                )
            if point.id in seen:
                raise ValueError(f"points[{index}]: {point.id} is given twice")
            seen.add(point.id)

    @property
    def register_map(self) -> RegisterMap:
        if self._register_map is None:
            raise RuntimeError(f"{self.id}: built without validation, so no profile is loaded")
        return self._register_map

    def point_facts(self) -> dict[str, PointFacts]:
        """Zone, location, description and type of every point, site file over profile."""
        site = {p.id: p for p in self.points}
        facts: dict[str, PointFacts] = {}
        for point in self.register_map.points.values():
            override = site.get(point.id)
            facts[point.id] = PointFacts(
                zone=(override.zone if override and override.zone else self._zone_name(point)),
                location=override.location if override else "",
                description=(
                    override.description
                    if override and override.description is not None
                    else point.description
                ),
                component_type=(
                    override.component_type
                    if override and override.component_type is not None
                    else point.component_type
                ),
            )
        return facts

    def _zone_name(self, point: FirePoint) -> str:
        if point.zone is None:
            return ""
        return self.zones.get(point.zone, f"zone-{point.zone}")

    def endpoints(self) -> list[str]:
        if self.tcp is not None:
            return [f"modbus tcp {self.tcp.host}:{self.tcp.port} unit {self.unit}"]
        assert self.rtu is not None
        return [f"modbus rtu {self.rtu.port} unit {self.unit}"]

    def inventory(self) -> list[dict[str, Any]]:
        """What the retained device inventory says about this panel."""
        return [{
            "id": self.id,
            "driver": self.driver,
            "name": self.name,
            "endpoint": self.endpoints()[0],
            "profile": self.profile,
            "point_count": len(self.register_map.loop_points),
        }]
