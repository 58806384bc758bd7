"""What a tester can make a simulated camera do (``campus-sim act <camera> <action> k=v``).

Scene actions change the picture and the analytics send the events it implies at once (a
``cover`` darkens the frame and sends GlobalSceneChange and ImageTooDark); device actions
change the camera itself (its clock, password, network, a reboot).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.onvif.events import RAW_LIMIT, RawMessage, RawMessageError
from simulators.simulator import SimulatorError

if TYPE_CHECKING:
    from simulators.onvif.camera import SimulatedCamera

ACTIONS = ("people", "walk", "cross", "crowd", "clear", "cover", "blind", "defocus", "uncover",
           "goto-preset", "motion", "stuck-motion", "input", "reboot", "offline", "online",
           "clock", "password", "unknown-event", "discovery", "notify-raw")
# What may be done while the camera reboots: the world goes on, the camera is not there.
TOPIC_PATH = r"^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$"
WHILE_DOWN = frozenset({"people", "walk", "cross", "crowd", "clear", "cover", "blind",
                        "defocus", "uncover", "input", "clock", "password", "discovery"})


LAST_SETTABLE = datetime(9999, 12, 30, tzinfo=UTC)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    pass


class PeopleArgs(_Args):
    count: int = Field(ge=0, le=60, description="people standing about in the view")


class WalkArgs(_Args):
    seconds: float = Field(default=4.0, gt=0.2, le=120, description="how long the walk takes")


class CrossArgs(_Args):
    seconds: float = Field(default=3.0, gt=0.2, le=120)


class CrowdArgs(_Args):
    people: int = Field(ge=0, le=200)


class PresetArgs(_Args):
    preset: str = Field(min_length=1, description="a preset's name or token")
    speed: float | None = Field(default=None, gt=0, le=1)


class SwitchArgs(_Args):
    on: bool


class StuckArgs(_Args):
    on: bool = True


class InputArgs(_Args):
    on: bool
    input: str = "DigitalInput_1"


class RebootArgs(_Args):
    seconds: float = Field(default=2.0, ge=0, le=300, description="how long it is unreachable")


class OfflineArgs(_Args):
    mode: Literal["refuse", "silent"] = "refuse"


class ClockArgs(_Args):
    offset: float | None = Field(default=None, ge=-10 * 365 * 86400, le=10 * 365 * 86400,
                                 description="seconds the camera's clock is ahead (negative: "
                                 "behind)")
    at: datetime | None = Field(default=None, description="set the camera's clock to this "
                                "time (UTC unless it says), any from 0001-01-01 to 9999-12-30: "
                                "a clock never set, a dead RTC battery's 1970, a mistyped year")

    @model_validator(mode="after")
    def _one(self) -> ClockArgs:
        if (self.offset is None) == (self.at is None):
            raise ValueError("give offset (seconds) or at (a time), one of them")
        if self.at is not None:
            at = self.at if self.at.tzinfo is not None else self.at.replace(tzinfo=UTC)
            if at > LAST_SETTABLE:
                raise ValueError(f"at: at most {LAST_SETTABLE.date()} (its times plus a "
                                 "subscription's duration must stay in the calendar)")
        return self


class PasswordArgs(_Args):
    value: str = Field(min_length=1, max_length=64)


class VendorArgs(_Args):
    topic: str | None = Field(default=None, pattern=TOPIC_PATH,
                              description="a tnssim: topic path; default Diagnostics/FanFailure")
    on: bool = True


class RawArgs(_Args):
    xml: str = Field(min_length=1, max_length=RAW_LIMIT, description="one wsnt:Notification"
                     "Message as a camera wrote it (a capture), sent in the next PullMessages "
                     "answers as it is")


def busy(device_id: str, why: str) -> SimulatorError:
    return SimulatorError(f"{device_id} {why}")


Run = Callable[[Any], Awaitable[None]]


def handlers(camera: SimulatedCamera) -> dict[str, tuple[type[_Args], Run]]:
    """Each action's argument model and what it does to ``camera``."""
    import time

    def now() -> float:
        return time.monotonic()

    async def people(args: PeopleArgs) -> None:
        camera.scene.set_people(args.count, camera.view_x(), now())
        camera.analyse()

    async def walk(args: WalkArgs) -> None:
        camera.scene.walk(camera.view_x(), now(), args.seconds)
        camera.analyse()

    async def cross(args: CrossArgs) -> None:
        person = camera.scene.cross(now(), args.seconds)
        camera.analyse()
        camera.crossed(person.pid)

    async def crowd(args: CrowdArgs) -> None:
        camera.scene.crowd(args.people, now())
        camera.analyse()

    async def clear(args: NoArgs) -> None:
        camera.scene.clear()
        camera.analyse()

    def lens(covered: bool | None = None, blinded: bool | None = None,
             defocused: bool | None = None) -> Run:
        async def run(args: NoArgs) -> None:
            scene = camera.scene
            if covered is not None:
                scene.covered = covered
            if blinded is not None:
                scene.blinded = blinded
            if defocused is not None:
                scene.defocused = defocused
            camera.analyse()
        return run

    async def goto_preset(args: PresetArgs) -> None:
        from simulators.simulator import UnknownPoint

        if not camera.head.enabled:
            raise UnknownPoint(f"{camera.device_id} has no presets (a fixed camera)")
        preset = camera.head.find(args.preset)
        if preset is None:
            known = ", ".join(p.name for p in camera.head.presets)
            raise UnknownPoint(f"{camera.device_id}: no preset {args.preset!r} ({known})")
        camera.turn_to(preset, args.speed)

    async def motion(args: SwitchArgs) -> None:
        camera.manual_motion = args.on
        camera.analyse()

    async def stuck_motion(args: StuckArgs) -> None:
        camera.stuck_motion = args.on
        camera.analyse()

    async def digital_input(args: InputArgs) -> None:
        camera.set_input(args.input, args.on)

    async def reboot(args: RebootArgs) -> None:
        await camera.reboot(args.seconds)

    async def offline(args: OfflineArgs) -> None:
        await camera.go_offline(args.mode)

    async def online(args: NoArgs) -> None:
        await camera.go_online()

    async def clock(args: ClockArgs) -> None:
        if args.at is not None:
            camera.clock.set(args.at)
        else:
            camera.clock.offset = args.offset or 0.0

    async def password(args: PasswordArgs) -> None:
        await camera.change_password(args.value)

    async def unknown_event(args: VendorArgs) -> None:
        camera.vendor_event(args.topic, args.on)

    async def discovery(args: SwitchArgs) -> None:
        await camera.set_discovery(args.on)

    async def notify_raw(args: RawArgs) -> None:
        try:
            camera.events.emit_raw(RawMessage.parse(args.xml))
        except RawMessageError as exc:
            raise SimulatorError(f"{camera.device_id} notify-raw: {exc}") from None

    table: dict[str, tuple[type[_Args], Run]] = {
        "people": (PeopleArgs, people),
        "walk": (WalkArgs, walk),
        "cross": (CrossArgs, cross),
        "crowd": (CrowdArgs, crowd),
        "clear": (NoArgs, clear),
        "cover": (NoArgs, lens(covered=True)),
        "blind": (NoArgs, lens(blinded=True)),
        "defocus": (NoArgs, lens(defocused=True)),
        "uncover": (NoArgs, lens(covered=False, blinded=False, defocused=False)),
        "goto-preset": (PresetArgs, goto_preset),
        "motion": (SwitchArgs, motion),
        "stuck-motion": (StuckArgs, stuck_motion),
        "input": (InputArgs, digital_input),
        "reboot": (RebootArgs, reboot),
        "offline": (OfflineArgs, offline),
        "online": (NoArgs, online),
        "clock": (ClockArgs, clock),
        "password": (PasswordArgs, password),
        "unknown-event": (VendorArgs, unknown_event),
        "discovery": (SwitchArgs, discovery),
        "notify-raw": (RawArgs, notify_raw),
    }
    assert tuple(table) == ACTIONS
    return table
