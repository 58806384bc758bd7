"""The site-file stanza of one ONVIF camera, as the simulator reads it.

The camera driver (``drivers/onvif/``) will own the real config model; until it exists the
simulator reads the keys it needs with this model and lets every other key through (``extra``
allowed: the driver's ``analytics:`` and the like), so the simulator and the driver work from the
same site file. Keys only the simulator reads are ``scene`` and the ``simulator:`` block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.kernel.fields import Identifier, Secret
from simulators.dialects import settings_of

SceneKind = Literal["gate", "stairwell", "field"]
DEVICE_SERVICE_PATH = "/onvif/device_service"


class SimulatorOptions(BaseModel):
    """How the simulated camera behaves beyond what the driver needs to know."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clock_offset: float = Field(default=0.0, description="seconds the camera's clock is off")
    discovery: bool = Field(default=False, description="answer WS-Discovery probes")
    fps: float = Field(default=10.0, gt=0, le=30)
    resolution: str = Field(default="640x480", pattern=r"^\d{2,4}x\d{2,4}$")
    rtsp: bool = Field(default=True, description="serve RTSP H.264 when GStreamer is installed")
    rtsp_port: int | None = Field(default=None, ge=0, le=65535,
                                  description="None or 0: a free port chosen at start")
    manufacturer: str = "Campus Sim"
    model: str = "SIM-IPC-2"
    firmware: str = "2.4.1 build 260110"
    # misbehaviour on demand (simulators/onvif/abuse.py)
    pull_flood: int = Field(default=0, ge=0, le=1_000_000, description="extra tamper "
                            "notifications in every PullMessages answer, past MessageLimit")
    pull_padding: int = Field(default=0, ge=0, le=1 << 34, description="bytes of one "
                              "notification's Source value in every PullMessages answer")
    snapshot_bytes: int = Field(default=0, ge=0, le=1 << 34, description="the snapshot padded "
                                "to this many bytes (0: the plain JPEG)")
    declare_length: bool = Field(default=True, description="padded answers say their "
                                 "Content-Length (false: chunked)")
    pull_malformed: Literal["", "xml", "envelope"] = Field(
        default="", description="every PullMessages answer spoiled: xml (cut off mid-document) "
        "or envelope (no SOAP Envelope around it)")
    answer_delay: float = Field(default=0.0, ge=0, le=60, description="seconds every SOAP "
                                "answer waits before it is sent")
    # dialects of other vendors (simulators/onvif/dialects.py)
    presets_undeclared: bool = Field(default=False, description="the GetPresets answer uses "
                                     "the tptz: and tt: prefixes without declaring them")
    snapshot_auth: Literal["digest", "basic"] = Field(
        default="digest", description="how the snapshot and MJPEG URIs challenge a client")
    clock_needs_auth: bool = Field(default=False, description="GetSystemDateAndTime refused "
                                   "without credentials (against ONVIF Core)")
    events_service: bool = Field(default=True, description="false: no events service (not in "
                                 "GetServices or GetCapabilities; its operations refused)")

    @field_validator("resolution")
    @classmethod
    def _sane_size(cls, value: str) -> str:
        width, height = (int(part) for part in value.split("x"))
        if not (64 <= width <= 1920 and 48 <= height <= 1080):
            raise ValueError("resolution between 64x48 and 1920x1080")
        if width % 2 or height % 2:
            raise ValueError("width and height must be even (H.264 needs it)")
        return value

    @property
    def size(self) -> tuple[int, int]:
        width, height = (int(part) for part in self.resolution.split("x"))
        return width, height


class OnvifCameraConfig(BaseModel):
    """``driver: onvif`` as the simulator reads it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: Identifier
    driver: Literal["onvif"] = "onvif"
    name: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=80, ge=0, le=65535, description="0: a free port chosen at start")
    username: str = Field(min_length=1, max_length=64)
    password: Secret
    zone: str | None = None
    scene: SceneKind = "gate"
    presets: list[str] = Field(default_factory=list, max_length=32)
    simulator: SimulatorOptions = SimulatorOptions()

    @field_validator("presets")
    @classmethod
    def _unique_presets(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("preset names must be unique")
        if any(not name.strip() or len(name) > 64 for name in value):
            raise ValueError("preset names are 1-64 characters")
        return value

    @property
    def display_name(self) -> str:
        return self.name or self.id

    def endpoints(self) -> list[str]:
        return [f"onvif http://{self.host}:{self.port}{DEVICE_SERVICE_PATH}"]

    @classmethod
    def read(cls, section: Any) -> OnvifCameraConfig:
        """A stanza given as a mapping or as the driver's config model; a ``dialect`` in its
        ``simulator:`` block is replaced by that dialect's options (simulators/dialects.py)."""
        if isinstance(section, OnvifCameraConfig):
            return section
        if isinstance(section, BaseModel):
            section = section.model_dump(mode="python", exclude_none=True)
        stanza = dict(section)
        if isinstance(stanza.get("simulator"), Mapping):
            stanza["simulator"] = settings_of("onvif", stanza, stanza["simulator"],
                                              f"camera {stanza.get('id')}")
        return cls.model_validate(stanza)
