"""One connection to one camera (onvif-zeep-async): what it is, its profiles and URIs, its clock,
its PullPoint subscription and PTZ, every request bounded in time.

A connection is made whole or not at all (``CameraLink.open``) and thrown away whole when a
request fails: a new one measures the camera's clock again (``adjust_time``: WS-Security
``Created`` is sent on the camera's clock), so a camera whose clock was set, or that rebooted,
is met afresh. Failures are sorted into the states a person acts on: the camera refuses our
credentials (``auth_refused``: someone must fix the password), answers but not as an ONVIF
device (``not_onvif``: wrong port or address), or does not answer (``unreachable``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import zeep.exceptions
from onvif.exceptions import ONVIFError
from onvif.util import normalize_url

from drivers.onvif.answers import BoundedCamera, PullAnswer, pull_messages
from drivers.onvif.models import OnvifCameraConfig
from gateway.kernel.boundary import BoundaryError, device_text

log = logging.getLogger(__name__)

Health = Literal["up", "auth_refused", "not_onvif", "unreachable", "events_unreadable"]
T = TypeVar("T")

EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
PULLPOINT_NS = f"{EVENTS_NS}/PullPointSubscription"
PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"


class CameraProblem(Exception):
    """A request to the camera failed; ``state`` says which kind of failure it is."""

    def __init__(self, state: Health, reason: str) -> None:
        super().__init__(reason)
        self.state: Health = state
        self.reason = reason


def problem_of(exc: BaseException, doing: str) -> CameraProblem:
    """The health state a failure of ``doing`` means."""
    if isinstance(exc, CameraProblem):
        return exc
    if isinstance(exc, BoundaryError):
        return CameraProblem("not_onvif", f"{doing}: answer refused: {exc}")
    if isinstance(exc, zeep.exceptions.Fault):
        text = device_text(exc.message or exc)
        codes = " ".join(str(getattr(c, "localname", c)) for c in (exc.subcodes or []))
        if "not authorized" in text.lower() or "NotAuthorized" in codes:
            return CameraProblem("auth_refused", f"{doing}: credentials refused ({text})")
        return CameraProblem("not_onvif", f"{doing}: SOAP fault: {text}")
    if isinstance(exc, TimeoutError):
        return CameraProblem("unreachable", f"{doing}: no answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CameraProblem("unreachable", f"{doing}: cannot connect ({exc.os_error})")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | OSError):
        return CameraProblem("unreachable", f"{doing}: connection lost ({exc})")
    if isinstance(exc, aiohttp.ClientError):
        return CameraProblem("unreachable", f"{doing}: {exc}")
    if isinstance(exc, zeep.exceptions.Error | ONVIFError):
        # an HTTP answer that is no SOAP envelope (a web page, 404): something else listens
        return CameraProblem("not_onvif", f"{doing}: not an ONVIF answer ({exc})")
    return CameraProblem("not_onvif", f"{doing}: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Profile:
    token: str
    name: str
    encoding: str
    width: int | None
    height: int | None
    video_source: str
    ptz: bool


@dataclass(frozen=True)
class CameraFacts:
    """What a connection learnt of the camera."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    profiles: list[Profile]
    stream_profile: str
    stream_uri: str | None
    snapshot_uri: str | None
    presets: dict[str, str] = field(default_factory=dict)  # name -> token
    ptz_profile: str | None = None
    events: bool = False
    skew: float = 0.0  # camera clock minus ours, seconds (to within a second)
    # optional capabilities the camera has but could not serve: capability -> why
    unavailable: dict[str, str] = field(default_factory=dict)


def with_credentials(url: str, username: str, password: str) -> str:
    """``url`` with user and password in it, for OpenCV/FFmpeg (digest or basic, as asked)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class PullPoint:
    """A PullPoint subscription at the camera: pull, renew, synchronise. Never unsubscribed."""

    def __init__(self, link: CameraLink, pull: Any, manager: Any, address: str,
                 termination: dt.datetime | None) -> None:
        self._link = link
        self._pull = pull
        self._manager = manager
        self.address = address
        self.termination = termination

    async def synchronise(self) -> None:
        """SetSynchronizationPoint: the camera sends every property's state again."""
        await self._link.call(self._pull.SetSynchronizationPoint(), "SetSynchronizationPoint")

    async def pull(self, timeout: float, limit: int) -> PullAnswer:
        """One long poll: at most ``limit`` messages (what the camera sent past it is
        counted, not used), the camera's CurrentTime and TerminationTime."""
        answer = await self._link.call(pull_messages(self._pull, timeout, limit),
                                       "PullMessages", extra=timeout)
        if answer.termination is not None:
            self.termination = answer.termination
        return answer

    async def renew(self, duration: float) -> None:
        camera = self._link.camera
        answer = await self._link.call(self._manager.Renew({
            "TerminationTime": camera.get_next_termination_time(
                dt.timedelta(seconds=duration))}), "Renew")
        termination = getattr(answer, "TerminationTime", None)
        if isinstance(termination, dt.datetime):
            self.termination = termination


class CameraLink:
    def __init__(self, config: OnvifCameraConfig, password: str) -> None:
        self.config = config
        self.password = password
        self.timeout = config.request_timeout
        self.camera = BoundedCamera(config.host, config.port, config.username, password,
                                    answer_limit=config.answer_limit)
        self.facts: CameraFacts | None = None
        self._ptz: Any = None
        self._clock_with_credentials = False

    async def call(self, request: Awaitable[T], doing: str, extra: float = 0.0) -> T:
        try:
            async with asyncio.timeout(self.timeout + extra):
                return await request
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise problem_of(exc, doing) from exc

    async def open(self) -> CameraFacts:
        """Connect: clock, services, device information, profiles, URIs, presets."""
        camera = self.camera
        config = self.config
        await self.call(camera.update_xaddrs(), "connect", extra=self.timeout)
        # the camera tells its time in whole seconds (truncated): half a second is the bias
        skew = camera.dt_diff.total_seconds() + 0.5 if camera.dt_diff is not None else 0.0
        device = await self.call(camera.create_devicemgmt_service(), "device service")
        info = await self.call(device.GetDeviceInformation(), "GetDeviceInformation")
        media = await self.call(camera.create_media_service(), "media service")
        raw_profiles = await self.call(media.GetProfiles(), "GetProfiles")
        profiles = [_profile(p) for p in raw_profiles or []]
        if not profiles:
            raise CameraProblem("not_onvif", "the camera has no media profile")
        tokens = [p.token for p in profiles]
        wanted = config.stream.profile
        if wanted is not None and wanted not in tokens:
            raise CameraProblem("not_onvif", f"no media profile {wanted!r} (profiles: "
                                f"{', '.join(tokens)})")
        stream_profile = wanted or tokens[0]
        protocol = "RTSP" if config.stream.transport == "rtsp" else "HTTP"
        stream_uri = await self._uri(media.GetStreamUri({
            "ProfileToken": stream_profile,
            "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": protocol}}}),
            "GetStreamUri")
        snapshot_profile = config.snapshot.profile or stream_profile
        snapshot_uri = None
        if config.snapshot.source != "stream":
            snapshot_uri = await self._uri(media.GetSnapshotUri({"ProfileToken":
                                                                 snapshot_profile}),
                                           "GetSnapshotUri")
        presets: dict[str, str] = {}
        ptz_profile = next((p.token for p in profiles if p.token == stream_profile and p.ptz),
                           next((p.token for p in profiles if p.ptz), None))
        unavailable: dict[str, str] = {}
        if PTZ_NS in camera.xaddrs and ptz_profile is not None:
            try:
                presets = await self._presets(ptz_profile)
            except CameraProblem as problem:
                if problem.state != "not_onvif":
                    raise  # refused or gone: the camera's trouble, not PTZ's
                # media answered: an optional service the camera cannot tell costs only itself
                self._ptz = None
                unavailable["ptz"] = problem.reason
                log.warning("%s: ptz unavailable: %s", config.id, problem.reason)
        events = EVENTS_NS in camera.xaddrs
        if config.events and not events:
            unavailable["events"] = "the camera offers no events service (GetServices)"
            log.warning("%s: events unavailable: the camera offers no events service; only "
                        "the gateway's own analytics can tell what happens there", config.id)
        self.facts = CameraFacts(
            manufacturer=device_text(getattr(info, "Manufacturer", "") or "", 64),
            model=device_text(getattr(info, "Model", "") or "", 64),
            firmware=device_text(getattr(info, "FirmwareVersion", "") or "", 64),
            serial=device_text(getattr(info, "SerialNumber", "") or "", 64),
            profiles=profiles, stream_profile=stream_profile, stream_uri=stream_uri,
            snapshot_uri=snapshot_uri, presets=presets,
            ptz_profile=ptz_profile if self._ptz is not None else None,
            events=events, skew=round(skew, 1), unavailable=unavailable)
        return self.facts

    async def _presets(self, ptz_profile: str) -> dict[str, str]:
        """The PTZ service and its presets (name -> token)."""
        self._ptz = await self.call(self.camera.create_ptz_service(), "PTZ service")
        presets: dict[str, str] = {}
        for preset in await self.call(self._ptz.GetPresets({"ProfileToken": ptz_profile}),
                                      "GetPresets") or []:
            token = getattr(preset, "token", None)
            if token:
                presets[device_text(getattr(preset, "Name", None) or token, 64)] = str(token)
        return presets

    async def _uri(self, request: Awaitable[Any], doing: str) -> str | None:
        """A media URI, or None when the camera has none (it answers a fault)."""
        try:
            answer = await self.call(request, doing)
        except CameraProblem as problem:
            if problem.state != "not_onvif":
                raise
            log.info("%s: %s: %s", self.config.id, doing, problem.reason)
            return None
        uri = normalize_url(getattr(answer, "Uri", None))
        return str(uri) if uri else None

    async def stream_uris(self, protocol: str = "RTSP") -> dict[str, str | None]:
        """Every profile's stream URI (after ``open``)."""
        media = await self.call(self.camera.create_media_service(), "media service")
        uris: dict[str, str | None] = {}
        for profile in self.facts.profiles if self.facts else []:
            uris[profile.token] = await self._uri(media.GetStreamUri({
                "ProfileToken": profile.token,
                "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": protocol}}}),
                "GetStreamUri")
        return uris

    @property
    def keepalive(self) -> str:
        """The request that tells this camera is there (and its clock)."""
        return ("GetSystemDateAndTime with credentials" if self._clock_with_credentials
                else "GetSystemDateAndTime")

    async def clock(self) -> dt.datetime | None:
        """The camera's UTC clock (GetSystemDateAndTime): without credentials, as ONVIF has
        every device answer it, or with them once the camera refused it without."""
        device = await self.call(self.camera.create_devicemgmt_service(), "device service")
        if not self._clock_with_credentials:
            try:
                answer = await self.call(device.authless_GetSystemDateAndTime(),
                                         "GetSystemDateAndTime")
                return _utc(answer)
            except CameraProblem as problem:
                if problem.state not in ("auth_refused", "not_onvif"):
                    raise
                # cameras that refuse it without credentials exist (the library's connect
                # retries with them too); a camera that refuses them as well is auth_refused
                log.info("%s: %s; asking with credentials from now on", self.config.id,
                         problem.reason)
                self._clock_with_credentials = True
        answer = await self.call(device.GetSystemDateAndTime(),
                                 "GetSystemDateAndTime with credentials")
        return _utc(answer)

    async def subscribe(self, duration: float) -> PullPoint:
        camera = self.camera
        interval = dt.timedelta(seconds=duration)
        events = await self.call(camera.create_events_service(), "events service")
        answer = await self.call(events.CreatePullPointSubscription({
            "InitialTerminationTime": camera.get_next_termination_time(interval)}),
            "CreatePullPointSubscription")
        address = normalize_url(answer.SubscriptionReference.Address._value_1)
        if not address:
            raise CameraProblem("not_onvif", "CreatePullPointSubscription gave no address")
        camera.xaddrs[PULLPOINT_NS] = camera.rewrite_url(address)
        pull = await self.call(camera.create_pullpoint_service(), "pull point")
        manager = await self.call(camera.create_subscription_service("PullPointSubscription"),
                                  "subscription manager")
        point = PullPoint(self, pull, manager, str(address), answer.TerminationTime)
        if camera.has_broken_relative_time(interval, answer.CurrentTime,
                                           answer.TerminationTime):
            # the camera took our relative time wrongly: renew with an absolute one
            await point.renew(duration)
        return point

    async def goto_preset(self, token: str) -> None:
        if self._ptz is None or self.facts is None or self.facts.ptz_profile is None:
            raise CameraProblem("not_onvif", "the camera has no PTZ service")
        await self.call(self._ptz.GotoPreset({"ProfileToken": self.facts.ptz_profile,
                                              "PresetToken": token}), "GotoPreset")

    async def close(self) -> None:
        try:
            async with asyncio.timeout(2.0):
                await self.camera.close()
        except Exception as exc:  # closing sockets of a dead camera: nothing to act on
            log.debug("%s: closing the connection: %s", self.config.id, exc)


def _utc(answer: Any) -> dt.datetime | None:
    """The UTC clock of a GetSystemDateAndTime answer (None when it gives only local time)."""
    utc = getattr(answer, "UTCDateTime", None)
    if utc is None:
        return None
    date, time = utc.Date, utc.Time
    return dt.datetime(date.Year, date.Month, date.Day, time.Hour, time.Minute,
                       time.Second, tzinfo=dt.UTC)


def _profile(raw: Any) -> Profile:
    encoder = getattr(raw, "VideoEncoderConfiguration", None)
    resolution = getattr(encoder, "Resolution", None)
    source = getattr(raw, "VideoSourceConfiguration", None)
    # a token goes back to the camera as it sent it; the driver shows it through device_text
    return Profile(token=str(raw.token), name=device_text(getattr(raw, "Name", "") or "", 64),
                   encoding=device_text(getattr(encoder, "Encoding", "") or "", 32),
                   width=getattr(resolution, "Width", None),
                   height=getattr(resolution, "Height", None),
                   video_source=device_text(getattr(source, "SourceToken", "") or "", 64),
                   ptz=getattr(raw, "PTZConfiguration", None) is not None)
