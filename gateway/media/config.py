"""The ``media:`` section of the site file: where snapshots and clips are kept, and how much."""

from __future__ import annotations

from pydantic import Field

from gateway.kernel.fields import Seconds, Strict


class LiveView(Strict):
    """Live views of the cameras in the console, proxied by the gateway (``media.live``)."""

    fps: float = Field(default=4.0, gt=0, le=15, description="pictures a second asked of a "
                                                             "watched camera")
    per_camera: int = Field(default=4, ge=1, le=64, description="browsers watching one camera")
    total: int = Field(default=16, ge=1, le=256, description="live views open on the gateway")


class Media(Strict):
    """Snapshots and clips in ``<state_dir>/media``, bounded by size and age.

    When a cap is reached the oldest media not taken for an alarm goes first; alarm media go
    only when nothing else is left (and never while their alarm is open). The event stream
    carries references (id, URL, hash, size); the bytes travel on MQTT only where the site turns
    ``publish_bytes`` on.
    """

    max_bytes: int = Field(default=2 * 1024**3, ge=1024**2, description="all media together")
    max_age: Seconds = Field(default=30 * 86400.0, ge=3600, description="older media is deleted")
    max_item_bytes: int = Field(default=64 * 1024**2, ge=64 * 1024,
                                description="a larger snapshot or clip is refused")
    publish_bytes: bool = Field(
        default=False, description="also publish each snapshot's JPEG on P/S/media/<camera>/"
                                   "<media id> (QoS 0, not retained, best effort; clips never): "
                                   "for a centre that cannot fetch over HTTP")
    base_url: str = Field(default="", description="how the central platform reaches the "
                                                  "gateway's media (default: the console's "
                                                  "address)")
    live: LiveView = LiveView()
