"""Config models for the video library: how a stream is grabbed, how much of it is kept for
clips, and which analytics run on it. A camera driver's site-file section embeds these.

Places in the picture (polygons, lines) are given in normalised coordinates: ``[x, y]`` with
``0, 0`` the top-left corner and ``1, 1`` the bottom-right one, so they hold whatever the stream
and analysis resolutions are. Areas in pixels (``person_area``, ``min_area``) are pixels of the
*analysis* frame (``analysis.width`` wide, its height following the stream's aspect ratio).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.kernel.fields import Identifier, Seconds, Strict

Coordinate = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Coordinate, Coordinate]
ClipFormat = Literal["webm", "avi", "mp4"]
TamperCondition = Literal["covered", "blinded", "defocused", "moved"]
CrossingDirection = Literal["any", "left_to_right", "right_to_left"]


class GrabberConfig(Strict):
    """How one stream is opened and kept open (``cv2.VideoCapture`` with the FFmpeg backend)."""

    open_timeout: Seconds = Field(default=10.0, gt=0, le=120,
                                  description="give up opening the stream after this long")
    read_timeout: Seconds = Field(default=5.0, gt=0, le=120,
                                  description="a stream that delivers no frame for this long is "
                                              "lost and reopened")
    backoff_initial: Seconds = Field(default=1.0, gt=0, le=60,
                                     description="first wait before reopening a lost stream")
    backoff_max: Seconds = Field(default=30.0, gt=0, le=600,
                                 description="longest wait between attempts (doubling, jittered)")

    @model_validator(mode="after")
    def _backoff_order(self) -> GrabberConfig:
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be shorter than backoff_initial")
        return self


class RingConfig(Strict):
    """The last seconds of a stream, kept as JPEG images at full resolution for clips."""

    seconds: Seconds = Field(default=20.0, gt=0, le=300)
    fps: float = Field(default=5.0, gt=0, le=30, description="frames kept per second")
    jpeg_quality: int = Field(default=80, ge=10, le=100)
    max_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024,
                           description="hard cap on the JPEG bytes held; oldest frames go first")


class ClipConfig(Strict):
    """A clip around an alarm: ``pre`` seconds before it and ``post`` seconds after."""

    pre: Seconds = Field(default=10.0, le=300)
    post: Seconds = Field(default=10.0, le=300)
    format: ClipFormat = Field(default="webm", description="webm: VP8 in WebM (plays in the "
                                                           "console's browser); avi: Motion "
                                                           "JPEG in AVI (every frame a keyframe); "
                                                           "mp4: MPEG-4 Part 2")


class TamperConfig(Strict):
    """Camera tamper against a learnt reference view. Thresholds in pairs: one to raise, one to
    clear (hysteresis); a condition raises only after ``min_duration`` beyond its raise threshold
    and clears only after ``clear_after`` within its clear threshold."""

    detect: list[TamperCondition] = Field(
        default=["covered", "blinded", "defocused", "moved"], min_length=1)
    min_duration: Seconds = Field(default=10.0, le=600)
    clear_after: Seconds = Field(default=5.0, le=600)
    learn: Seconds = Field(default=5.0, gt=0, le=600,
                           description="stable view needed before the first reference is set")
    relearn: Seconds = Field(default=600.0, gt=0,
                             description="time constant of the reference following a stable "
                                         "scene (lighting over the day); paused while any "
                                         "condition is raised or pending")
    stable_change: float = Field(default=6.0, gt=0, le=255,
                                 description="mean absolute grey-level change between analysed "
                                             "frames under which the scene counts as stable")
    # a covered lens still shows the camera's own on-screen text (name, clock): about 7 grey
    # levels of standard deviation on the simulator's picture, as on real cameras
    covered_contrast: float = Field(default=9.0, gt=0, le=128,
                                    description="grey-level standard deviation under which the "
                                                "view is flat (lens covered, sprayed, pitch dark)")
    covered_clear: float = Field(default=14.0, gt=0, le=128)
    blinded_fraction: float = Field(default=0.6, gt=0, le=1,
                                    description="share of saturated pixels that blinds the view")
    blinded_clear: float = Field(default=0.35, ge=0, le=1)
    defocused_ratio: float = Field(default=0.5, gt=0, lt=1,
                                   description="sharpness relative to the reference under which "
                                               "the view is defocused")
    defocused_clear: float = Field(default=0.7, gt=0, le=1)
    moved_similarity: float = Field(default=0.6, gt=-1, lt=1,
                                    description="median edge similarity of the picture's cells "
                                                "with the reference under which the view has "
                                                "moved (shifted, turned, zoomed)")
    moved_clear: float = Field(default=0.8, gt=-1, le=1)

    @model_validator(mode="after")
    def _hysteresis(self) -> TamperConfig:
        pairs = [("covered_contrast", self.covered_contrast, "covered_clear", self.covered_clear),
                 ("defocused_ratio", self.defocused_ratio, "defocused_clear",
                  self.defocused_clear),
                 ("moved_similarity", self.moved_similarity, "moved_clear", self.moved_clear)]
        for low_name, low, high_name, high in pairs:
            if high < low:
                raise ValueError(f"{high_name} must not be below {low_name}")
        if self.blinded_clear > self.blinded_fraction:
            raise ValueError("blinded_clear must not be above blinded_fraction")
        return self


class Polygon(Strict):
    points: list[Point] = Field(min_length=3, max_length=64)


class CrowdingZone(Polygon):
    """Occupancy of a polygon (a stairwell, a gate hall) by moving or recently moved things."""

    id: Identifier
    occupancy: float = Field(default=0.4, gt=0, le=1,
                             description="share of the polygon covered by foreground that "
                                         "raises")
    person_area: int | None = Field(default=None, gt=0,
                                    description="pixels one person covers in the analysis frame "
                                                "there; turns foreground area into a head count")
    people: int | None = Field(default=None, gt=0,
                               description="estimated people that raise (needs person_area)")
    hysteresis: float = Field(default=0.75, gt=0, le=1,
                              description="clears below this share of the raise threshold")
    raise_after: Seconds = Field(default=10.0, le=3600)
    clear_after: Seconds = Field(default=30.0, le=3600)

    @model_validator(mode="after")
    def _people_needs_area(self) -> CrowdingZone:
        if self.people is not None and self.person_area is None:
            raise ValueError("people needs person_area (pixels of one person in the analysis "
                             "frame)")
        return self


class IntrusionZone(Polygon):
    """Something of at least ``min_area`` pixels whose centre is inside the polygon."""

    id: Identifier
    min_area: int = Field(default=150, gt=0)
    schedule: Identifier | None = Field(default=None,
                                        description="armed only while this gateway schedule "
                                                    "allows (e.g. after-hours); none: always")
    min_duration: Seconds = Field(default=1.0, le=60,
                                  description="inside this long before it raises")
    clear_after: Seconds = Field(default=10.0, le=3600)


class LineCrossing(Strict):
    """Something of at least ``min_area`` pixels whose centre crosses the segment ``a``-``b``.

    ``left_to_right``: from the left of someone standing on ``a`` and looking towards ``b`` in
    the picture as displayed, to their right. Draw a horizontal line from left (``a``) to right
    (``b``): left is the upper side, so ``left_to_right`` is downwards.
    """

    id: Identifier
    a: Point
    b: Point
    direction: CrossingDirection = "any"
    min_area: int = Field(default=150, gt=0)
    schedule: Identifier | None = None
    clear_after: Seconds = Field(default=10.0, le=3600)

    @model_validator(mode="after")
    def _segment(self) -> LineCrossing:
        if self.a == self.b:
            raise ValueError("a and b must be different points")
        return self


class VideoAnalyticsConfig(Strict):
    """What one camera analyses, at what rate and resolution. Every analytic is opt-in."""

    rate: float = Field(default=5.0, gt=0, le=30, description="frames analysed per second")
    width: int = Field(default=320, ge=64, le=1920,
                       description="analysis width in pixels; the height keeps the aspect ratio")
    background: Seconds = Field(default=30.0, gt=0, le=600,
                                description="something that stays still for about this long "
                                            "becomes background (a parked cart, a person "
                                            "waiting); the model adapts to light changes ten "
                                            "times slower")
    max_scene_change: float = Field(default=0.7, gt=0, le=1,
                                    description="more of the whole picture in foreground at "
                                                "once (lights switched, camera knocked) "
                                                "restarts the background model; such frames "
                                                "are not used for crowding or intrusion")
    tamper: TamperConfig | None = None
    crowding: list[CrowdingZone] = []
    intrusion: list[IntrusionZone] = []
    lines: list[LineCrossing] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> VideoAnalyticsConfig:
        seen: set[str] = set()
        zones: list[CrowdingZone | IntrusionZone | LineCrossing] = [
            *self.crowding, *self.intrusion, *self.lines]
        for zone in zones:
            if zone.id in seen:
                raise ValueError(f"zone id {zone.id!r} is used twice")
            seen.add(zone.id)
        return self

    @property
    def uses_foreground(self) -> bool:
        return bool(self.crowding or self.intrusion or self.lines)

    def schedules(self) -> set[str]:
        """The gateway schedules these analytics need (to check at start-up that they exist)."""
        zones: list[IntrusionZone | LineCrossing] = [*self.intrusion, *self.lines]
        return {z.schedule for z in zones if z.schedule is not None}
