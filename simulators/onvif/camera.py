"""One simulated ONVIF camera on real sockets: SOAP services, media, events and a picture.

The camera's HTTP server (aiohttp) serves the ONVIF services at the paths GetServices
advertises, each pull point at its own address, the snapshot (``/snapshot.jpg``) and the MJPEG
stream (``/mjpeg``) behind HTTP digest (or, as a dialect, Basic) authentication with the ONVIF
user and password. An RTSP H.264 stream is served by a GStreamer helper where the machine has one.

The picture is the truth: actions change the scene (people, the lens, the pan) and an analytics
pass compares what it shows with the event states, sending what changed. It runs right after
each action, so the action's events go out at once, and five times a second, so a walker who
leaves the picture ends the motion.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from aiohttp import web

from drivers.http_gate.digest import DigestAuthority
from simulators.onvif import actions
from simulators.onvif.abuse import Abuse, padded, spoiled
from simulators.onvif.clock import CameraClock
from simulators.onvif.config import OnvifCameraConfig
from simulators.onvif.dialects import (
    UNDECLARED_PRESET_PREFIXES,
    basic_challenge,
    basic_verify,
    undeclared,
)
from simulators.onvif.discovery import DiscoveryResponder
from simulators.onvif.events import EventProducer
from simulators.onvif.frames import FrameSource
from simulators.onvif.ptz import PanTiltHead, Preset
from simulators.onvif.rtsp import RtspStream, rtsp_available
from simulators.onvif.scene import FrameSpec, SceneRenderer, SceneState, seed_of, view_left
from simulators.onvif.security import UsernameTokenChecker
from simulators.onvif.services import SUBSCRIPTION_PATH, UNAUTHENTICATED, OnvifServices
from simulators.onvif.soap import CONTENT_TYPE, Answer, SoapFault, fault_bytes, parse_request
from simulators.onvif.topics import (
    CELL_MOTION,
    DIGITAL_INPUT,
    FIELD_INSIDE,
    LINE_CROSSED,
    MOTION_ALARM,
    RULE_SOURCE,
    SCENE_CHANGE,
    TOO_BLURRY,
    TOO_BRIGHT,
    TOO_DARK,
    VENDOR,
    Topic,
)
from simulators.simulator import InvalidArguments, StartError, UnknownAction, parse_arguments

log = logging.getLogger(__name__)

ANALYSIS_PERIOD = 0.2
VIDEO_SOURCE = "VideoSource_1"
INPUTS = ("DigitalInput_1", "DigitalInput_2")
BOUNDARY = "campussimframe"
OfflineMode = Literal["refuse", "silent"]


@dataclass(frozen=True)
class ProfileSpec:
    token: str
    name: str
    width: int
    height: int
    encoder_token: str
    mount: str


def _rule(name: str) -> tuple[tuple[str, str], ...]:
    values = ("VideoSourceConfig_1", "VideoAnalyticsConfig_1", name)
    return tuple((item[0], value) for item, value in zip(RULE_SOURCE, values, strict=True))


MOTION_RULE = _rule("MyMotionDetectorRule")
LINE_RULE = _rule("MyLineDetectorRule")
FIELD_RULE = _rule("MyFieldDetectorRule")
SOURCE = (("Source", VIDEO_SOURCE),)


def connect_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


class SimulatedCamera:
    driver: str = "onvif"
    actions: Sequence[str] = actions.ACTIONS

    def __init__(self, config: OnvifCameraConfig, *, rtsp: bool | None = None) -> None:
        self.config = config
        self.device_id = config.id
        options = config.simulator
        self.clock = CameraClock(options.clock_offset)
        self.head = PanTiltHead(list(config.presets))
        width, height = options.size
        sub = (max(64, width // 2) // 2 * 2, max(48, height // 2) // 2 * 2)
        self.profiles = [ProfileSpec("Profile_1", "mainStream", width, height, "VideoEncoder_1",
                                     "/Profile_1"),
                         ProfileSpec("Profile_2", "subStream", *sub, "VideoEncoder_2",
                                     "/Profile_2")]
        self.video_source = VIDEO_SOURCE
        self.inputs = dict.fromkeys(INPUTS, False)
        home_pan = self.head.presets[0].pan if self.head.enabled else 0.0
        seed = seed_of(config.id)
        self.scene = SceneState(config.scene, view_left(home_pan) + 0.5, seed)
        self.renderer = SceneRenderer(config.scene, width, height, self.scene.home_x, seed)
        self.frames = FrameSource(self.renderer, options.fps, self._frame_spec)
        digest = hashlib.sha256(config.id.encode()).hexdigest()
        self.serial = "CS" + digest[:10].upper()
        self.mac = "02:" + ":".join(digest[i:i + 2] for i in range(10, 20, 2))
        self.hostname = config.id
        self.endpoint = uuid.UUID(digest[:32])
        self.checker = UsernameTokenChecker(self.clock)
        self.digest = DigestAuthority(realm=f"{options.model} {self.serial}")
        self.password = ""
        self.port = config.port
        self.online = False
        self.offline_mode: OfflineMode | None = None
        self.rebooting = False
        self.boots = 0
        self.manual_motion = False
        self.stuck_motion = False
        self.want_rtsp = options.rtsp if rtsp is None else rtsp
        self.rtsp: RtspStream | None = None
        self.rtsp_port: int | None = None
        self.rtsp_problem = ""
        self.want_discovery = options.discovery
        self.discovery: DiscoveryResponder | None = None
        self.events = EventProducer(self.clock, "")
        self.abuse = Abuse(options.pull_flood, options.pull_padding, options.snapshot_bytes,
                           options.declare_length, options.pull_malformed,
                           options.answer_delay)
        self.services = OnvifServices(self)
        self.counters = {"requests": 0, "refused": 0, "faults": 0, "snapshots": 0,
                         "mjpeg_clients": 0, "mjpeg_frames": 0}
        self.last_refusal = ""
        self._silent = asyncio.Event()
        self._silent.set()
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._reboot_task: asyncio.Task[None] | None = None
        self._actions = actions.handlers(self)

    # --- addresses -----------------------------------------------------------------------------

    @property
    def advertised_host(self) -> str:
        return connect_host(self.config.host)

    def _url_host(self) -> str:
        host = self.advertised_host
        return f"[{host}]" if ":" in host else host

    @property
    def base_url(self) -> str:
        return f"http://{self._url_host()}:{self.port}"

    @property
    def address(self) -> str:
        return f"onvif {self.base_url}/onvif/device_service"

    @property
    def encoding(self) -> str:
        return "H264" if self.rtsp_port is not None else "JPEG"

    def profile(self, token: str) -> ProfileSpec:
        return next(p for p in self.profiles if p.token == token)

    def mjpeg_url(self, token: str) -> str:
        return f"{self.base_url}/mjpeg?profile={token}"

    def snapshot_url(self, token: str) -> str:
        return f"{self.base_url}/snapshot.jpg?profile={token}"

    def rtsp_url(self, token: str) -> str | None:
        if self.rtsp_port is None:
            return None
        return f"rtsp://{self._url_host()}:{self.rtsp_port}{self.profile(token).mount}"

    def scopes(self) -> list[tuple[str, bool]]:
        scopes = [("onvif://www.onvif.org/type/video_encoder", True),
                  ("onvif://www.onvif.org/type/Network_Video_Transmitter", True),
                  ("onvif://www.onvif.org/Profile/Streaming", True),
                  (f"onvif://www.onvif.org/hardware/{quote(self.config.simulator.model)}", True),
                  (f"onvif://www.onvif.org/name/{quote(self.config.display_name)}", False)]
        if self.head.enabled:
            scopes.insert(1, ("onvif://www.onvif.org/type/ptz", True))
        if self.config.zone:
            scopes.append((f"onvif://www.onvif.org/location/{quote(self.config.zone)}", False))
        return scopes

    def summary(self) -> str:
        parts = [f"scene {self.config.scene}", f"{'x'.join(map(str, self.config.simulator.size))}"
                 f" @ {self.config.simulator.fps:g} fps"]
        if self.head.enabled:
            parts.append("presets " + ", ".join(p.name for p in self.head.presets))
        parts.append(f"rtsp {self.rtsp_url('Profile_1')}" if self.rtsp_port else "mjpeg")
        return "; ".join(parts)

    # --- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        from gateway.kernel.fields import ConfigError

        try:
            self.password = self.config.password.read()
        except ConfigError as exc:
            raise StartError(f"{self.device_id}: {exc}") from None
        await self._boot()

    async def stop(self) -> None:
        if self._reboot_task is not None:
            self._reboot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reboot_task
            self._reboot_task = None
        await self._halt()

    async def _boot(self) -> None:
        """Power on: fresh event states, the network up, analytics running."""
        self.events.reset_states()
        self._seed_states()
        await self._network_up()
        self.boots += 1
        self.online = True
        self.offline_mode = None
        self._tasks = [asyncio.create_task(self._analysing(), name=f"{self.device_id} analytics")]

    async def _halt(self) -> None:
        """Power off: every subscription is gone with the camera's memory."""
        self.online = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.events.drop_all()
        await self._network_down()

    async def _network_up(self) -> None:
        await self._serve()
        self.events.subscription_base = f"{self.base_url}{SUBSCRIPTION_PATH}"
        if self.want_rtsp:
            await self._start_rtsp()
        if self.want_discovery:
            await self._start_discovery()

    async def _network_down(self) -> None:
        await self._stop_discovery()
        if self.rtsp is not None:
            await self.rtsp.stop()
            self.rtsp = None
        self._silent.set()
        await self._unserve()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=512 * 1024, middlewares=[self._track])
        app.router.add_post("/onvif/subscription/{token}", self._soap)
        app.router.add_post("/onvif/{service}", self._soap)
        app.router.add_get("/snapshot.jpg", self._snapshot)
        app.router.add_get("/mjpeg", self._mjpeg)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.port))
        except OSError as exc:
            sock.close()
            await runner.cleanup()
            raise StartError(f"{self.device_id}: cannot listen on {self.config.host}:"
                             f"{self.port}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner

    async def _unserve(self) -> None:
        for task in list(self._handlers):
            task.cancel()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _start_rtsp(self) -> None:
        if not rtsp_available():
            self.rtsp_problem = ("GStreamer RTSP server not installed (python3-gi, "
                                 "gir1.2-gst-rtsp-server-1.0); streaming MJPEG over HTTP")
            return
        options = self.config.simulator
        stream = RtspStream(device_id=self.device_id, host=self.config.host,
                            port=self.rtsp_port or options.rtsp_port or 0, fps=options.fps,
                            size=options.size,
                            mounts={p.mount: (p.width, p.height) for p in self.profiles},
                            username=self.config.username, frame=self.frames.frame)
        try:
            self.rtsp_port = await stream.start(self.password)
        except OSError as exc:
            self.rtsp_problem = str(exc)
            log.warning("%s: %s; streaming MJPEG over HTTP", self.device_id, exc)
            self.rtsp_port = None
            return
        self.rtsp = stream
        self.rtsp_problem = ""

    async def _start_discovery(self) -> None:
        if self.discovery is not None:
            return
        responder = DiscoveryResponder(
            address=self.config.host,
            xaddrs=lambda: [f"{self.base_url}/onvif/device_service"],
            scopes=lambda: [scope for scope, _ in self.scopes()], endpoint=self.endpoint)
        try:
            await responder.start(self.boots)
        except OSError as exc:
            raise StartError(f"{self.device_id}: WS-Discovery: {exc}") from None
        self.discovery = responder

    async def _stop_discovery(self) -> None:
        if self.discovery is not None:
            await self.discovery.stop()
            self.discovery = None

    # --- HTTP ----------------------------------------------------------------------------------

    @web.middleware
    async def _track(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                     ) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._silent.wait()  # "offline mode=silent": take the request, never answer
            return await handler(request)
        finally:
            self._handlers.discard(task)

    async def _soap(self, request: web.Request) -> web.StreamResponse:
        self.counters["requests"] += 1
        body = await request.read()
        if self.abuse.answer_delay:
            await asyncio.sleep(self.abuse.answer_delay)  # slow, whatever the answer
        try:
            parsed = parse_request(request.path, body)
            token = request.match_info.get("token")
            if token is None and parsed.to:
                path = urlsplit(parsed.to).path
                if path.startswith(SUBSCRIPTION_PATH + "/"):
                    token = path.rsplit("/", 1)[1]
            parsed.context["subscription"] = token
            if parsed.name not in UNAUTHENTICATED or self.config.simulator.clock_needs_auth:
                try:
                    self.checker.check(parsed.header, self.config.username, self.password)
                except SoapFault as refusal:
                    self.counters["refused"] += 1
                    self.last_refusal = refusal.reason
                    raise
            handler = self.services.handler(parsed)
            answer = Answer(parsed)
            await handler(parsed, answer)
            body = self.abuse.flood(answer.to_bytes(), self.clock.now(), self.video_source)
            if parsed.name[1] == "GetPresets" and self.config.simulator.presets_undeclared:
                body = undeclared(body, UNDECLARED_PRESET_PREFIXES)
            if parsed.context.get("malformed"):
                body = spoiled(body, parsed.context["malformed"])
            padding = parsed.context.get("padding", 0)
            if padding:
                return await padded(request, body, padding, CONTENT_TYPE,
                                    self.abuse.declare_length)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
        except SoapFault as fault:
            self.counters["faults"] += 1
            return web.Response(body=fault_bytes(fault), status=fault.status,
                                headers={"Content-Type": CONTENT_TYPE})

    def _media_auth(self, request: web.Request) -> web.Response | None:
        if self.config.simulator.snapshot_auth == "basic":
            return self._basic_auth(request)
        result = self.digest.verify(
            request.headers.get("Authorization"), request.method, request.path_qs,
            lambda name: self.password if name == self.config.username else None)
        if result.ok:
            return None
        if request.headers.get("Authorization") and not result.stale:
            self.counters["refused"] += 1
            self.last_refusal = f"{request.path}: {result.reason}"
        return web.Response(status=401, text="401 Unauthorized\n",
                            headers={"WWW-Authenticate": self.digest.challenge(result.stale)})

    def _basic_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if basic_verify(header, self.config.username, self.password):
            return None
        if header:
            self.counters["refused"] += 1
            self.last_refusal = f"{request.path}: not the user and password (Basic)"
        return web.Response(status=401, text="401 Unauthorized\n", headers={
            "WWW-Authenticate": basic_challenge(self.digest.realm)})

    def _media_profile(self, request: web.Request) -> ProfileSpec:
        token = request.query.get("profile", self.profiles[0].token)
        for profile in self.profiles:
            if profile.token == token:
                return profile
        raise web.HTTPNotFound(text=f"no profile {token}\n")

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        refused = self._media_auth(request)
        if refused is not None:
            return refused
        profile = self._media_profile(request)
        self.counters["snapshots"] += 1
        jpeg = await self.frames.jpeg((profile.width, profile.height))
        if self.abuse.snapshot_bytes > len(jpeg):
            return await padded(request, jpeg, self.abuse.snapshot_bytes - len(jpeg),
                                "image/jpeg", self.abuse.declare_length)
        return web.Response(body=jpeg, content_type="image/jpeg",
                            headers={"Cache-Control": "no-store"})

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        refused = self._media_auth(request)
        if refused is not None:
            return refused
        profile = self._media_profile(request)
        response = web.StreamResponse(headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            "Cache-Control": "no-store", "Connection": "close"})
        await response.prepare(request)
        self.counters["mjpeg_clients"] += 1
        loop = asyncio.get_running_loop()
        period = self.frames.period
        try:
            while self._runner is not None:
                await self._silent.wait()
                started = loop.time()
                jpeg = await self.frames.jpeg((profile.width, profile.height))
                await response.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                self.counters["mjpeg_frames"] += 1
                await asyncio.sleep(max(0.0, period - (loop.time() - started)))
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self.counters["mjpeg_clients"] -= 1
        return response

    # --- the picture and what the analytics make of it ------------------------------------------

    def _frame_spec(self, now: float) -> FrameSpec:
        stamp = self.clock.now().strftime("%Y-%m-%d %H:%M:%S UTC")
        overlay = f"{self.config.display_name}\n{stamp}"
        return self.scene.snapshot(now, self.head.position(now).pan, overlay)

    def view_x(self, now: float | None = None) -> float:
        return view_left(self.head.position(now).pan)

    def _seed_states(self) -> None:
        for topic, source in ((CELL_MOTION, MOTION_RULE), (FIELD_INSIDE, FIELD_RULE),
                              (MOTION_ALARM, SOURCE), (SCENE_CHANGE, SOURCE), (TOO_DARK, SOURCE),
                              (TOO_BRIGHT, SOURCE), (TOO_BLURRY, SOURCE)):
            name = topic.data[0][0]
            self.events.seed(topic, source, ((name, "false"),))
        for token, state in self.inputs.items():
            self.events.seed(DIGITAL_INPUT, (("InputToken", token),),
                             (("LogicalState", "true" if state else "false"),))
        self.analyse()

    def analyse(self) -> None:
        """Compare the picture with the event states and send what changed."""
        now = time.monotonic()
        scene = self.scene
        scene.tidy(now)
        moving = scene.moving(now) or self.manual_motion
        self._property(CELL_MOTION, MOTION_RULE, moving or self.stuck_motion)
        self._property(MOTION_ALARM, SOURCE, moving)
        self._property(FIELD_INSIDE, FIELD_RULE, scene.inside_zone(now) > 0)
        self._property(SCENE_CHANGE, SOURCE, scene.covered or scene.blinded)
        self._property(TOO_DARK, SOURCE, scene.covered)
        self._property(TOO_BRIGHT, SOURCE, scene.blinded and not scene.covered)
        self._property(TOO_BLURRY, SOURCE, scene.defocused and not scene.covered)

    def _property(self, topic: Topic, source: tuple[tuple[str, str], ...], value: bool) -> None:
        self.events.emit(topic, source, ((topic.data[0][0], "true" if value else "false"),))

    async def _analysing(self) -> None:
        while True:
            await asyncio.sleep(ANALYSIS_PERIOD)
            try:
                self.analyse()
            except Exception:  # a bug here must not stop the camera's events for good
                log.exception("%s: analytics pass failed", self.device_id)

    # --- what the actions and ONVIF requests do ------------------------------------------------

    def turn_to(self, preset: Preset, speed: float | None) -> None:
        self.head.goto(preset, speed)

    def crossed(self, object_id: int) -> None:
        self.events.emit(LINE_CROSSED, LINE_RULE, (("ObjectId", str(object_id)),))

    def set_input(self, token: str, state: bool) -> None:
        if token not in self.inputs:
            raise InvalidArguments(f"{self.device_id}: no input {token!r} "
                                   f"(inputs: {', '.join(self.inputs)})")
        self.inputs[token] = state
        self.events.emit(DIGITAL_INPUT, (("InputToken", token),),
                         (("LogicalState", "true" if state else "false"),))

    def vendor_event(self, path: str | None, on: bool) -> None:
        if path is None:
            self.events.emit(VENDOR, (("Fan", "Fan_1"),),
                             (("Failed", "true" if on else "false"),
                              ("Rpm", "0" if on else "4200")), force=True)
            return
        topic = Topic(f"tnssim:{path}", False, (("Source", VIDEO_SOURCE),),
                      (("Value", "true" if on else "false"),))
        self.events.emit(topic, SOURCE, (("Value", "true" if on else "false"),))

    async def change_password(self, password: str) -> None:
        self.password = password
        if self.rtsp is not None:
            await self.rtsp.set_password(password)

    def schedule_reboot(self, delay: float = 0.0, seconds: float = 2.0) -> None:
        """A reboot asked for over ONVIF (SystemReboot): answer first, then go down."""
        if self.rebooting:
            return
        self.rebooting = True
        self._reboot_task = asyncio.create_task(self._reboot(delay, seconds),
                                                name=f"{self.device_id} reboot")

    async def reboot(self, seconds: float) -> None:
        """Go down now (every subscription dropped), come back after ``seconds``."""
        if self.rebooting:
            raise actions.busy(self.device_id, "is rebooting")
        self.rebooting = True
        await self._going_down()
        self._reboot_task = asyncio.create_task(self._coming_back(seconds),
                                                name=f"{self.device_id} reboot")

    async def _reboot(self, delay: float, seconds: float) -> None:
        await asyncio.sleep(delay)
        await self._going_down()
        await self._coming_back(seconds)

    async def _going_down(self) -> None:
        await self._halt()
        self.offline_mode = None
        self.checker.forget_nonces()
        self.stuck_motion = False
        self.manual_motion = False

    async def _coming_back(self, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
            await self._boot()
        finally:
            self.rebooting = False

    async def go_offline(self, mode: OfflineMode) -> None:
        """Off the network: refuse connections, or (silent) take them and never answer.
        The camera itself keeps running: its subscriptions live on until they expire."""
        if self.rebooting:
            raise actions.busy(self.device_id, "is rebooting")
        if self.offline_mode == mode:
            return
        if self.offline_mode == "silent":
            self._silent.set()
        if mode == "silent":
            if self.offline_mode == "refuse":
                await self._network_up()
            self._silent.clear()
        else:
            await self._network_down()
        self.online = False
        self.offline_mode = mode

    async def go_online(self) -> None:
        if self.offline_mode == "refuse":
            await self._network_up()
        self._silent.set()
        if self.offline_mode is not None:
            self.online = True
            self.offline_mode = None

    async def set_discovery(self, on: bool) -> None:
        self.want_discovery = on
        if on and self.online:
            await self._start_discovery()
        elif not on:
            await self._stop_discovery()

    # --- the SimulatedDevice side --------------------------------------------------------------

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        entry = self._actions.get(action)
        if entry is None:
            raise UnknownAction(f"{self.device_id}: unknown action {action!r} (known: "
                                f"{', '.join(self.actions)})")
        model, run = entry
        parsed = parse_arguments(model, f"{self.device_id} {action}", args)
        if action not in actions.WHILE_DOWN and not self.online and self.offline_mode is None:
            raise actions.busy(self.device_id, "is rebooting")
        await run(parsed)
        self.frames.invalidate()

    async def state(self) -> dict[str, Any]:
        now = time.monotonic()
        view_x = self.view_x(now)
        return {
            "id": self.device_id,
            "driver": self.driver,
            "address": self.address,
            "online": self.online,
            "offline_mode": self.offline_mode,
            "rebooting": self.rebooting,
            "boots": self.boots,
            "actions": list(self.actions),
            "urls": {"device": f"{self.base_url}/onvif/device_service",
                     "snapshot": self.snapshot_url("Profile_1"),
                     "mjpeg": self.mjpeg_url("Profile_1"),
                     "rtsp": self.rtsp_url("Profile_1")},
            "rtsp": {"port": self.rtsp_port, "clients": self.rtsp.clients if self.rtsp else 0,
                     "problem": self.rtsp_problem or None},
            "discovery": {"on": self.discovery is not None,
                          "probes": self.discovery.probes if self.discovery else 0},
            "clock": {"offset": self.clock.offset, "camera_time": self.clock.now().isoformat(
                timespec="seconds")},
            "ptz": self.head.view() if self.head.enabled else None,
            "preset": self.head.preset.name if self.head.preset else None,
            "scene": self.scene.view(now, view_x),
            "motion": {"manual": self.manual_motion, "stuck": self.stuck_motion},
            "inputs": dict(self.inputs),
            "events": self.events.view(),
            "requests": dict(self.counters),
            "last_refusal": self.last_refusal or None,
            "frames_drawn": self.frames.frames_drawn,
        }
