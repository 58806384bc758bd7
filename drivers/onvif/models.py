"""Site-file section for one ONVIF camera: how it is reached, which stream and snapshot to use,
its events, and (opt-in) the gateway's own video analytics on its stream.

One section is one camera (its ``id`` is the events' device id). The keys ``scene`` and
``simulator`` belong to the camera simulator (simulators/onvif/), which reads the same stanza;
this model accepts them and ignores them. See docs/cameras.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from drivers.video.models import ClipConfig, GrabberConfig, RingConfig, VideoAnalyticsConfig
from gateway.kernel.events import CameraEventKind
from gateway.kernel.fields import Identifier, Seconds, Secret, Strict

DEVICE_SERVICE_PATH = "/onvif/device_service"  # onvif-zeep-async hard-codes it


class StreamChoice(Strict):
    """Which of the camera's media profiles is grabbed, and over what."""

    profile: str | None = Field(default=None, max_length=64,
                                description="media profile token (e.g. Profile_2, a sub "
                                            "stream for analytics); default: the first profile")
    transport: Literal["rtsp", "mjpeg"] = Field(
        default="rtsp", description="rtsp: GetStreamUri over RTSP (the camera may still answer "
                                    "an HTTP URL, which is then used); mjpeg: over HTTP")


class SnapshotChoice(Strict):
    source: Literal["auto", "snapshot_uri", "stream"] = Field(
        default="auto", description="auto: the camera's snapshot URI if it has one, else a frame "
                                    "from the stream; snapshot_uri or stream: only that")
    profile: str | None = Field(default=None, max_length=64,
                                description="profile of GetSnapshotUri (default: the stream's)")
    timeout: Seconds = Field(default=2.0, gt=0, le=30,
                             description="a snapshot that takes longer has failed")
    max_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024,
                           description="a larger snapshot is refused: at once when its "
                                       "Content-Length says so, else once that much has "
                                       "streamed in (the rest is never held)")


class Subscription(Strict):
    """The PullPoint subscription: long enough that a short outage does not end it, renewed
    well before it ends, never unsubscribed (cameras that get an Unsubscribe may drop every
    subscription they hold)."""

    duration: Seconds = Field(default=600.0, ge=60, le=86400,
                              description="InitialTerminationTime and each Renew")
    renew_after: Seconds = Field(default=480.0, ge=10, description="renew this long after the "
                                 "subscription was made or last renewed")
    pull_timeout: Seconds = Field(default=10.0, ge=1, le=60,
                                  description="PullMessages long-poll Timeout")
    message_limit: int = Field(default=100, ge=1, le=1024)
    clock_jump: Seconds = Field(default=10.0, ge=2, le=3600,
                                description="the camera's CurrentTime this far from what its "
                                            "measured skew predicts: its clock was set; "
                                            "measure again and subscribe again")
    backoff_initial: Seconds = Field(default=1.0, gt=0, le=60)
    backoff_max: Seconds = Field(default=60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _order(self) -> Subscription:
        if self.renew_after >= self.duration:
            raise ValueError("renew_after must be shorter than duration (renew before it ends)")
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be shorter than backoff_initial")
        return self


class OnvifCameraConfig(Strict):
    driver: Literal["onvif"]
    id: Identifier
    name: str = ""
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=80, ge=1, le=65535, description="HTTP port of the device service")
    username: str = Field(min_length=1, max_length=64)
    password: Secret
    zone: Identifier | None = None
    presets: list[str] = Field(default=[], max_length=32,
                               description="PTZ preset names the camera holds (ptz_preset "
                                           "takes one of these, or a preset token)")
    stream: StreamChoice = StreamChoice()
    # capabilities the camera turned out not to offer, as its driver last found (not site file)
    _lacks: set[str] = PrivateAttr(default_factory=set)
    snapshot: SnapshotChoice = SnapshotChoice()
    events: bool = Field(default=True, description="subscribe to the camera's own events")
    subscription: Subscription = Subscription()
    stuck_after: Seconds | None = Field(
        default=300.0, gt=0, le=86400, description="a state of stuck_kinds active this long "
        "without the camera saying it ended is cleared (cleared_by: timeout); none: never")
    stuck_kinds: list[CameraEventKind] = Field(default=["motion", "field"])
    request_timeout: Seconds = Field(default=5.0, gt=0, le=60,
                                     description="bound on every SOAP request")
    answer_limit: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024,
                              description="bytes of one SOAP answer; a larger one is refused "
                                          "before it is parsed (the request fails)")
    analytics: VideoAnalyticsConfig | None = Field(
        default=None, description="the gateway's own analytics on the stream (opt-in; see "
                                  "docs/video-analytics.md for the CPU they cost)")
    ring: RingConfig | None = Field(default=None, description="keep the stream's last seconds "
                                    "for clips (the clip action); none: no clips")
    clip: ClipConfig = ClipConfig()
    grabber: GrabberConfig = GrabberConfig()
    snapshot_on_raise: bool = Field(default=False, description="also take a snapshot, tied to "
                                    "no alarm, when analytics raise a condition (the gateway "
                                    "takes one for every alarm of a camera, with its alarm id)")
    scene: str | None = Field(default=None, description="camera simulator only; ignored")
    simulator: dict[str, Any] | None = Field(default=None,
                                             description="camera simulator only; ignored")

    @field_validator("presets")
    @classmethod
    def _unique_presets(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("preset names must be unique")
        if any(not name.strip() or len(name) > 64 for name in value):
            raise ValueError("preset names are 1-64 characters")
        return value

    @model_validator(mode="after")
    def _check(self) -> OnvifCameraConfig:
        if self.ring is not None and self.ring.seconds < max(self.clip.pre, self.clip.post):
            raise ValueError(f"ring.seconds ({self.ring.seconds:g}) must hold the clip: at "
                             f"least max(clip.pre, clip.post) = "
                             f"{max(self.clip.pre, self.clip.post):g}")
        return self

    def schedules(self) -> set[str]:
        """Schedules of the site file's ``access.schedules`` its analytics zones name."""
        return set(self.analytics.schedules()) if self.analytics is not None else set()

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def needs_stream(self) -> bool:
        """Whether the stream is grabbed all the time (analytics, or a ring for clips)."""
        return self.analytics is not None or self.ring is not None

    @property
    def device_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{DEVICE_SERVICE_PATH}"

    def endpoints(self) -> list[str]:
        return [f"onvif {self.device_url}"]

    def found(self, capability: str, offered: bool) -> None:
        """What the driver found the camera to offer (``events``), for the inventory."""
        if offered:
            self._lacks.discard(capability)
        else:
            self._lacks.add(capability)

    def inventory(self) -> list[dict[str, Any]]:
        return [{
            "id": self.id,
            "driver": self.driver,
            "name": self.name,
            "zone": self.zone or "",
            "endpoint": self.endpoints()[0],
            "presets": list(self.presets),
            "events": self.events and "events" not in self._lacks,
            "analytics": self.analytics is not None,
            "clips": self.ring is not None,
        }]
