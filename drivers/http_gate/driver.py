"""The receiving side of HTTP-push gate controllers: one small HTTP server, in the gateway's loop.

Controllers (turnstiles, vehicle barriers, door controllers) POST their events here:
``/isapi/events`` for Hikvision ISAPI event notification, ``/webhook/events`` for the generic
signed JSON webhook. Every request is attributed to a controller of the site file before its
body is read:

* isapi: by the digest user name it answers our challenge with (or, for a device listed without
  ``push_auth``, by its source address alone); then its source address and the MAC address in
  the event must match what the site file gives, if it gives them;
* webhook: by ``X-Gate-Device``, then its HMAC signature over time stamp and body, inside the
  replay window, never the same signature twice.

A request that cannot be attributed, or fails its check, is refused (401/403), logged with the
sender (summarised when repeated) and counted (``counts()``); a sender that keeps being refused
is answered 429 for a while without more work. A body over its limit is a 413, one that does
not parse a 400 with the reason, and neither stops the server. A request not all arrived within
``request_deadline`` is a 408, and one address holds at most ``connections_per_client``
connections (``gateway.kernel.http``), so a hung peer cannot take the server from the others.

What the receiver does with an event, and when it answers:

* a credential the controller decided itself: ``decide`` with ``decided_by_device``; answered
  once the decision (and its event) is committed;
* a credential the controller asks about (remote verification): ``decide``, then the answer
  through the dialect's channel (isapi: ``PUT /ISAPI/AccessControl/remoteCheck``; webhook: the
  signed answer to the push), so the gate opens on the gateway's grant only;
* door and tamper events: ``report`` and, once ``accepted``, the answer; if the controller is
  over its rate limit (flooding) nothing is applied and it is answered 503, so it sends again;
* a repeat of an event already taken (same serial number and time: our answer was lost) is
  answered as before and not counted twice. Every event carries the device's identity of the
  reading (``Event.reading``: its serial number or webhook id with its time, else a digest of its
  time and content), so the intake makes one event of a retry even across a restart;
* a device time further than ``DEVICE_TIME_AHEAD`` ahead or ``DEVICE_TIME_BEHIND`` behind ours
  (a controller whose clock says 9999) is logged and passed on as it is: the intake replaces
  it by the receipt time and keeps the device's beside it (``devicetime``). A time that is no
  time at all (year 0, an offset of 25 hours) is a 400 naming the field.

Availability: a controller is online from its first attributed request (heartbeats included)
and offline after ``heartbeat_timeout`` without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import socket
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from drivers.http_gate import isapi, webhook
from drivers.http_gate.body import BodyError, event_parts, read_all
from drivers.http_gate.commands import CommandFailed, ControllerCommands, Outcome
from drivers.http_gate.digest import DigestAuthority
from drivers.http_gate.models import (
    Controller,
    DoorMap,
    GateMode,
    HttpGateReceiverConfig,
    default_reader_name,
)
from drivers.http_gate.observations import Observation, ParseError
from drivers.http_gate.signing import (
    DEVICE_HEADER,
    SignatureChecker,
    SignatureError,
    answer_headers,
    nonce_of,
)
from gateway.kernel.access import AccessRequest
from gateway.kernel.events import (
    DOOR_CLOSED,
    DOOR_EXIT_REQUEST,
    DOOR_FORCED,
    DOOR_OPENED,
    DOOR_SECURED,
    READER_TAMPER,
    READER_TAMPER_RESTORED,
    DoorFact,
    Event,
    EventType,
    ReaderFact,
    Severity,
)
from gateway.kernel.fields import ConfigError
from gateway.kernel.http import guarded_http
from gateway.kernel.limits import KeyedBuckets
from gateway.kernel.logs import LogLimiter
from gateway.kernel.ports import ActionError, DeviceSink, DeviceUnavailable

log = logging.getLogger(__name__)

ISAPI_PATH = "/isapi/events"
REALM = "campus-gateway"
RECENT_EVENTS = 256  # per controller: enough for any retransmission
REFUSALS_BURST, REFUSALS_PER_SECOND = 20, 1.0  # refused requests one address may make
MAX_SENDERS = 1024  # distinct (reason, sender) pairs counted; beyond, one "other" count
RETRY_AFTER = "5"
GATE_MODES = ("normal", "locked", "free")
DEVICE_TIME_AHEAD = timedelta(minutes=5)
DEVICE_TIME_BEHIND = timedelta(days=7)  # a controller keeps events while we are away

# What a controller's door report becomes. Opened, closed and exit requests are contact facts:
# the gateway's doors (access.doors) judge forced and held-open from them, grants and the gate's
# mode. A controller's own "opened abnormally" is its lock's judgement and raises door_forced
# directly (the gateway never saw that door open, so it raises nothing twice); its own "open
# too long" is left to the gateway's held_open_after, which is already timing that opening.
DOOR_EVENTS: dict[str, tuple[EventType, Severity]] = {
    "opened": (DOOR_OPENED, Severity.INFO),
    "closed": (DOOR_CLOSED, Severity.INFO),
    "forced": (DOOR_FORCED, Severity.MAJOR),
    "exit_request": (DOOR_EXIT_REQUEST, Severity.INFO),
}


class Refused(Exception):
    """A request the receiver will not take; ``reason`` is the counter's key."""

    def __init__(self, status: int, reason: str, text: str,
                 headers: Mapping[str, str] | None = None, quiet: bool = False) -> None:
        super().__init__(text)
        self.status = status
        self.reason = reason
        self.text = text
        self.headers = dict(headers or {})
        self.quiet = quiet  # part of a normal exchange (the first digest round): not counted


@dataclass
class ControllerSession:
    config: Controller
    commands: ControllerCommands | None
    online: bool | None = None  # None: not heard from since the gateway started
    last_seen: float = 0.0
    last_peer: str = ""
    recent: OrderedDict[str, tuple[int, bytes]] = field(default_factory=OrderedDict)
    forced: set[str] = field(default_factory=set)  # door ids it reported forced, not closed
    accepted: Counter[str] = field(default_factory=Counter)
    last_remote_check: str = ""

    def remember(self, key: str, status: int, body: bytes) -> None:
        self.recent[key] = (status, body)
        while len(self.recent) > RECENT_EVENTS:
            self.recent.popitem(last=False)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the gateway: the gateway, not uvicorn, handles SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpGateReceiver:
    def __init__(self, config: HttpGateReceiverConfig, sink: DeviceSink) -> None:
        self.config = config
        self.device_id = config.id
        self._sink = sink
        self._sessions = {
            c.id: ControllerSession(c, ControllerCommands(c, c.command) if c.command else None)
            for c in config.controllers
        }
        self._by_user = {c.push_auth.username: self._sessions[c.id]
                         for c in config.controllers if c.push_auth}
        self._by_key = {c.device_key: self._sessions[c.id]
                        for c in config.controllers if c.dialect == "webhook"}
        self._anonymous = {str(c.identity.peer): self._sessions[c.id]
                           for c in config.controllers
                           if c.dialect == "isapi" and c.push_auth is None}
        self._passwords: dict[str, str] = {}
        self._secrets: dict[str, str] = {}
        self._digest = DigestAuthority(REALM, lifetime=config.replay_window)
        self._signatures = SignatureChecker(config.replay_window)
        self._refusing = KeyedBuckets(REFUSALS_BURST, REFUSALS_PER_SECOND, max_keys=4096)
        self._warnings = LogLimiter(log)
        self._refusals: Counter[str] = Counter()
        self._refused_senders: Counter[tuple[str, str]] = Counter()
        self._gate_modes: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._server: _EmbeddedServer | None = None
        self.url = ""
        self.app = Starlette(routes=[
            Route(ISAPI_PATH, self._isapi, methods=["POST"]),
            Route(webhook.PUSH_PATH, self._webhook, methods=["POST"]),
        ])

    @property
    def serving(self) -> bool:
        """True once the HTTP server takes requests."""
        return self._server is not None and self._server.started

    # --- running --------------------------------------------------------------------------------

    def _read_secrets(self) -> None:
        try:
            for c in self.config.controllers:
                if c.push_auth is not None:
                    self._passwords[c.push_auth.username] = c.push_auth.password.read()
                if c.secret is not None:
                    self._secrets[c.id] = c.secret.read()
                if c.command is not None and c.command.password is not None:
                    c.command.password.read()
        except ConfigError as exc:
            raise DeviceUnavailable(f"a controller's secret is missing: {exc}") from None

    def _bind(self) -> socket.socket:
        host, port = self.config.listen.host, self.config.listen.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: without it, an answer written in two pieces waits
        # for the controller's delayed ACK (40 ms a request; 46 ms measured, 2 ms with it)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise DeviceUnavailable(f"cannot listen on {host}:{port}: "
                                    f"{exc.strerror or exc}") from None
        sock.listen(128)
        sock.setblocking(False)
        return sock

    async def run(self) -> None:
        self._read_secrets()
        sock = self._bind()
        tls = self.config.tls
        self._server = _EmbeddedServer(uvicorn.Config(
            self.app, ssl_certfile=str(tls.cert_file) if tls else None,
            ssl_keyfile=str(tls.key_file) if tls else None, log_config=None,
            access_log=False, lifespan="off", server_header=False, date_header=False,
            timeout_keep_alive=30, timeout_graceful_shutdown=2, limit_concurrency=256,
            # no peer holds a slot for long, nor many of them (limit_concurrency is for all)
            http=guarded_http(self.device_id, self.config.request_deadline,
                              self.config.connections_per_client,
                              unlimited=self.config.trusted_proxies),
            # uvicorn believes X-Forwarded-For from loopback by default; an ISAPI controller
            # without push_auth is known by its address, so only named proxies may restate it
            proxy_headers=bool(self.config.trusted_proxies),
            forwarded_allow_ips=[str(n) for n in self.config.trusted_proxies]))
        host = self.config.listen.host
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{self.config.scheme}://{shown}:{self.config.listen.port}"
        serving = asyncio.create_task(self._server.serve(sockets=[sock]),
                                      name=f"{self.device_id} http server")
        log.info("%s: receiving gate controller events on %s (%s, %s)", self.device_id,
                 self.url, ISAPI_PATH, webhook.PUSH_PATH)
        try:
            watching = asyncio.create_task(self._watch_silence(), name=f"{self.device_id} "
                                           "heartbeats")
            done, _ = await asyncio.wait({serving, watching},
                                         return_when=asyncio.FIRST_COMPLETED)
            if serving in done:
                watching.cancel()
                error = serving.exception() if not serving.cancelled() else None
                raise DeviceUnavailable(f"the HTTP server on {self.url} stopped"
                                        + (f": {error}" if error else ""))
        finally:
            self._server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(serving), 5)
            sock.close()
            for task in list(self._background):
                task.cancel()
            for session in self._sessions.values():
                if session.commands is not None:
                    await session.commands.close()

    async def _watch_silence(self) -> None:
        """A controller is offline after ``heartbeat_timeout`` without a request, counted from
        its last one, or from the start for one not heard from since (it may never come)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            timeouts = [s.config.heartbeat_timeout or self.config.heartbeat_timeout
                        for s in self._sessions.values()]
            await asyncio.sleep(min(1.0, min(timeouts) / 4))
            now = loop.time()
            for session in self._sessions.values():
                timeout = session.config.heartbeat_timeout or self.config.heartbeat_timeout
                if session.online is False or now - (session.last_seen or started) <= timeout:
                    continue
                session.online = False
                self._sink.availability(
                    session.config.id, False,
                    f"no request (heartbeat or event) for {timeout:g} s" if session.last_seen
                    else f"no request since the gateway started ({timeout:g} s)")

    def _seen(self, session: ControllerSession, peer: str) -> None:
        session.last_seen = asyncio.get_running_loop().time()
        session.last_peer = peer
        if not session.online:
            session.online = True
            self._sink.availability(session.config.id, True, f"requests arriving from {peer}")

    # --- the two dialects ------------------------------------------------------------------------

    async def _isapi(self, request: Request) -> Response:
        return await self._guarded(request, self._isapi_push)

    async def _webhook(self, request: Request) -> Response:
        return await self._guarded(request, self._webhook_push)

    async def _guarded(self, request: Request,
                       handler: Callable[[Request, str], Awaitable[Response]]) -> Response:
        peer = _peer(request)
        try:
            self._check_length(request)
            return await handler(request, peer)
        except Refused as refusal:
            return await self._refuse(request, peer, refusal)
        except BodyError as exc:
            return await self._refuse(request, peer, Refused(
                exc.status, "oversized" if exc.status == 413 else "malformed", exc.reason))
        except ClientDisconnect:
            self._warnings.info(("gone", peer), "%s: %s went away in the middle of a request",
                                self.device_id, peer)
            return Response(status_code=400)
        except Exception:
            log.exception("%s: could not handle a request from %s; the receiver goes on",
                          self.device_id, peer)
            return Response("internal error\n", status_code=500, media_type="text/plain")

    def _check_length(self, request: Request) -> None:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise Refused(400, "malformed", "Content-Length is not a number")
            if int(length) > self.config.max_request:
                raise Refused(413, "oversized", f"request of {length} bytes, over "
                              f"{self.config.max_request}")

    async def _refuse(self, request: Request, peer: str, refusal: Refused) -> Response:
        if not refusal.quiet:
            self._refusals[refusal.reason] += 1
            key = (refusal.reason, peer)
            if key in self._refused_senders or len(self._refused_senders) < MAX_SENDERS:
                self._refused_senders[key] += 1
            else:
                self._refused_senders[(refusal.reason, "other")] += 1
            self._warnings.warning(("refused", refusal.reason, peer), "%s: refused %s %s "
                                   "from %s (%d): %s", self.device_id, request.method,
                                   request.url.path, peer, refusal.status, refusal.text)
            if not self._refusing.take(peer):
                self._refusals["rate_limited"] += 1
                return Response("too many refused requests; wait\n", status_code=429,
                                headers={"Retry-After": "60", "Connection": "close"},
                                media_type="text/plain")
        elif refusal.status == 401:
            await self._drain(request)  # so the client reads our challenge, then sends again
        return Response(refusal.text + "\n", status_code=refusal.status,
                        headers=refusal.headers, media_type="text/plain")

    async def _drain(self, request: Request) -> None:
        with contextlib.suppress(Exception):
            await read_all(request.stream(), self.config.max_request)

    def _challenge(self, stale: bool = False) -> dict[str, str]:
        return {"WWW-Authenticate": self._digest.challenge(stale)}

    def _identify_isapi(self, request: Request, peer: str) -> ControllerSession:
        header = request.headers.get("authorization")
        if not header:
            anonymous = self._anonymous.get(peer)
            if anonymous is not None:
                return anonymous
            raise Refused(401, "no_credentials", "authentication required",
                          self._challenge(), quiet=True)
        result = self._digest.verify(header, request.method, _path(request),
                                     self._passwords.get)
        if result.stale:
            raise Refused(401, "stale_nonce", "nonce expired", self._challenge(stale=True),
                          quiet=True)
        if not result.ok:
            if result.username and result.username not in self._passwords:
                raise Refused(401, "unknown_controller", f"unknown user "
                              f"{result.username[:64]!r}", self._challenge())
            raise Refused(401, "bad_digest", f"digest refused for user "
                          f"{result.username[:64]!r}: {result.reason}", self._challenge())
        return self._by_user[result.username]

    def _check_peer(self, session: ControllerSession, peer: str) -> None:
        expected = session.config.identity.peer
        if expected is not None and _normal_ip(str(expected)) != peer:
            raise Refused(403, "wrong_peer", f"{session.config.id} pushes from "
                          f"{expected}, not from {peer}")

    async def _isapi_push(self, request: Request, peer: str) -> Response:
        session = self._identify_isapi(request, peer)
        self._check_peer(session, peer)
        parts = await event_parts(request.headers.get("content-type", ""), request.stream(),
                                  self.config.max_body, self.config.max_request)
        observations: list[Observation] = []
        for content_type, data in parts:
            try:
                observations += isapi.parse_notification(data, content_type)
            except ParseError as exc:
                raise Refused(400, "malformed", f"not an ISAPI event notification: {exc}") \
                    from None
        expected_mac = session.config.identity.mac
        for observation in observations:
            if expected_mac and observation.mac and observation.mac != expected_mac:
                raise Refused(403, "wrong_identity", f"{session.config.id} is "
                              f"{expected_mac}; the event says macAddress {observation.mac}")
        self._seen(session, peer)
        for observation in observations:
            status, body = await self._handle(session, observation)
            if status != 200:
                return Response(body, status_code=status, headers={"Retry-After": RETRY_AFTER},
                                media_type="text/plain")
        return Response(isapi.ok_answer(request.url.path), media_type="application/xml")

    async def _webhook_push(self, request: Request, peer: str) -> Response:
        device = request.headers.get(DEVICE_HEADER.lower(), "")
        session = self._by_key.get(device)
        if session is None:
            raise Refused(403, "unknown_controller", f"unknown {DEVICE_HEADER} "
                          f"{device[:64]!r}" if device else f"no {DEVICE_HEADER} header")
        self._check_peer(session, peer)
        body = await read_all(request.stream(), self.config.max_body)
        secret = self._secrets[session.config.id]
        try:
            self._signatures.check(secret, request.headers, body, request.method,
                                   _path(request))
        except SignatureError as exc:
            reason = "replayed" if "replay" in str(exc) else "bad_signature"
            raise Refused(401, reason, f"signature refused for {session.config.id}: {exc}") \
                from None
        try:
            observation = webhook.parse_event(body)
        except ParseError as exc:
            raise Refused(400, "malformed", f"not a gate webhook event: {exc}") from None
        self._seen(session, peer)
        status, answer = await self._handle(session, observation)
        headers = answer_headers(session.config.device_key, secret, answer,
                                 nonce_of(request.headers))
        if status != 200:
            headers["Retry-After"] = RETRY_AFTER
        return Response(answer, status_code=status, headers=headers,
                        media_type="application/json")

    # --- what an event means ---------------------------------------------------------------------

    async def _handle(self, session: ControllerSession,
                      observation: Observation) -> tuple[int, bytes]:
        """(status, answer body) for one observation; only 200s are remembered for repeats."""
        dialect = session.config.dialect
        ok = isapi.ok_answer(ISAPI_PATH) if dialect == "isapi" else b'{"ok":true}'
        key = reading_of(observation)
        if key and key in session.recent:
            self._warnings.info(("repeated", session.config.id), "%s: %s sent event %s again "
                                "(our answer was lost); answered as before", self.device_id,
                                session.config.id, observation.reference)
            return session.recent[key]
        if observation.kind == "heartbeat":
            session.accepted["heartbeat"] += 1
            return 200, ok
        if observation.kind == "credential":
            result = await self._credential(session, observation, ok)
        elif observation.kind in ("door", "tamper"):
            result = await self._condition(session, observation, ok)
        else:
            self._warnings.info(("other", session.config.id, observation.detail[:40]),
                                "%s: %s reported %s; acknowledged, no event", self.device_id,
                                session.config.id, observation.detail or "an event")
            session.accepted["other"] += 1
            result = (200, ok)
        if key and result[0] == 200:
            session.remember(key, *result)
        return result

    async def _credential(self, session: ControllerSession, observation: Observation,
                          ok: bytes) -> tuple[int, bytes]:
        config = session.config
        door = config.door_for(observation.door, observation.reader)
        if door is None:
            return await self._unmapped_credential(session, observation, ok)
        if observation.asks and config.mode == "decides":
            self._warnings.info(("asks", config.id), "%s: %s asks for remote verification "
                                "although the site file says it decides; answering",
                                self.device_id, config.id)
        decision = await self._sink.decide(AccessRequest(
            device_id=config.id, reader=door.reader_name, gate=door.gate,
            direction=door.direction, credential=observation.credential, pin=observation.pin,
            decided_by_device=observation.granted, device_reason=observation.device_reason,
            # a question is decided now (device clocks tick in whole seconds, and drift); a
            # report of what the device decided keeps the device's time, if it is sane
            time=datetime.now(UTC) if observation.asks
            else self._device_time(session, observation),
            reading=reading_of(observation) or None))
        session.accepted["credential"] += 1
        if not observation.asks:
            return 200, (ok if config.dialect == "isapi"
                         else webhook.answer(decision.granted, decision.reason, False))
        await self._answer_check(session, observation, decision.granted,
                                 decision.reason or "granted")
        if config.dialect == "webhook":
            return 200, webhook.answer(decision.granted, decision.reason, decision.granted)
        return 200, ok

    async def _unmapped_credential(self, session: ControllerSession, observation: Observation,
                                   ok: bytes) -> tuple[int, bytes]:
        """A credential at a door the site file does not map: still published (gate ``""``,
        the reader named after the device's door and reader), refused if the device asks."""
        config = session.config
        where = default_reader_name(observation.door, observation.reader)
        self._warnings.warning(("unmapped", config.id, observation.door, observation.reader),
                               "%s: %s read a credential at door %s reader %s, which the site "
                               "file does not map to a gate; published as unmapped%s",
                               self.device_id, config.id, observation.door, observation.reader,
                               "; refused" if observation.asks else "")
        session.accepted["unmapped"] += 1
        reason = f"door {observation.door} reader {observation.reader} maps to no gate"
        await self._sink.decide(AccessRequest(
            device_id=config.id, reader=where or config.id, gate="", direction="in",
            credential=observation.credential, pin=observation.pin,
            # asked: the receiver refuses it, and the record says so rather than decide it
            decided_by_device=False if observation.asks else observation.granted,
            device_reason=(f"{reason}: refused by the receiver" if observation.asks
                           else f"{observation.device_reason} ({reason})"),
            time=datetime.now(UTC) if observation.asks
            else self._device_time(session, observation),
            reading=reading_of(observation) or None))
        if observation.asks:
            await self._answer_check(session, observation, False, "unmapped door")
            return 200, (ok if config.dialect == "isapi"
                         else webhook.answer(False, "gate_not_allowed", False))
        return 200, ok

    async def _answer_check(self, session: ControllerSession, observation: Observation,
                            granted: bool, info: str) -> None:
        """isapi, asks: the remoteCheck answer goes out on its own channel, beside our answer
        to the push (a device may wait for that answer before it serves the remoteCheck)."""
        if session.config.dialect != "isapi":
            return
        commands = session.commands
        if commands is None or not observation.reference:
            self._warnings.warning(("no-check", session.config.id), "%s: %s asked for remote "
                                   "verification without a serialNo (or without a command "
                                   "channel); it will time out and refuse", self.device_id,
                                   session.config.id)
            return
        task = asyncio.create_task(self._send_check(session, commands, observation.reference,
                                                    granted, info))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_check(self, session: ControllerSession, commands: ControllerCommands,
                          serial: str, granted: bool, info: str) -> None:
        outcome = await commands.remote_check(serial, granted, info)
        session.last_remote_check = (f"{serial}: {'success' if granted else 'failed'}"
                                     + ("" if outcome.ok else f" (not delivered: "
                                                              f"{outcome.error})"))
        if not outcome.ok:
            session.accepted["remote_check_failed"] += 1
            self._warnings.warning(("check-failed", session.config.id), "%s: remote "
                                   "verification answer for %s event %s not delivered: %s",
                                   self.device_id, session.config.id, serial, outcome.error)

    async def _condition(self, session: ControllerSession, observation: Observation,
                         ok: bytes) -> tuple[int, bytes]:
        config = session.config
        events, commit = self._condition_events(session, observation)
        if events is None:
            session.accepted["unmapped"] += 1
            return 200, ok
        if not self._sink.report(events):
            self._warnings.warning(("held", config.id), "%s: %s is flooding: its %s event is "
                                   "not taken; answered 503 so it sends it again",
                                   self.device_id, config.id, observation.kind)
            return 503, b"flooding: send again later\n"
        commit()
        await self._sink.accepted()
        session.accepted[observation.kind] += 1
        return 200, ok

    def _device_time(self, session: ControllerSession, observation: Observation) -> datetime:
        """The device's time of the event as it said it (ours when it has none). An insane one
        is passed on too: the intake puts the receipt time in its place and keeps the device's
        in ``devicetime``, which replacing it here would lose."""
        now = datetime.now(UTC)
        time = observation.time
        if time is None:
            return now
        zone = None
        if time.tzinfo is None:  # a bare wall-clock time: the controller's clock's zone
            zone = ZoneInfo(session.config.timezone or self.config.device_timezone)
        with contextlib.suppress(OverflowError):  # year 1 or 9999 in UTC: kept as it came
            time = (time.replace(tzinfo=zone) if zone else time).astimezone(UTC)
            # (a bare one stays bare rather than take the zone's local mean time, +08:05:43,
            # which no RFC 3339 offset can carry; the intake replaces such a time anyway)
        if time.tzinfo is None or not now - DEVICE_TIME_BEHIND <= time <= now + DEVICE_TIME_AHEAD:
            self._warnings.warning(("clock", session.config.id), "%s: %s dates its event %s "
                                   "(is its clock set?)", self.device_id, session.config.id,
                                   time.isoformat())
        return time

    def _condition_events(self, session: ControllerSession, observation: Observation
                          ) -> tuple[list[Event] | None, Callable[[], None]]:
        config = session.config
        time = self._device_time(session, observation)
        reading = reading_of(observation) or None
        if observation.kind == "tamper":
            reader = (config.door_for(None, observation.reader)
                      if observation.reader is not None else None)
            fact = ReaderFact(reader=reader.reader_name if reader else config.id,
                              gate=reader.gate if reader else "",
                              detail=observation.detail)
            kind = READER_TAMPER if observation.tamper else READER_TAMPER_RESTORED
            severity = Severity.MAJOR if observation.tamper else Severity.INFO
            return [Event(kind, config.id, fact, severity, fact.reader, time,
                          reading=reading)], _nothing
        door = self._door(config, observation.door)
        if door is None or door.door_id is None or observation.door_state is None:
            self._warnings.info(("unmapped-door", config.id, observation.door),
                                "%s: %s reported door %s, which has no door_id in the site "
                                "file; acknowledged, no event", self.device_id, config.id,
                                observation.door)
            return None, _nothing
        state = observation.door_state
        name = door.door_id
        if state == "held_open":
            self._warnings.info(("held-open", config.id, name), "%s: %s says door %s is held "
                                "open; access.doors[].held_open_after decides that alarm",
                                self.device_id, config.id, name)
            return [], _nothing
        kind, severity = DOOR_EVENTS[state]
        contact = DoorFact(door=name, gate=door.gate, reader=door.reader_name)
        events = [Event(kind, config.id, contact, severity, name, time, reading=reading)]
        if state == "closed" and name in session.forced:
            events.append(Event(DOOR_SECURED, config.id, DoorFact(
                door=name, gate=door.gate, reader=door.reader_name, ended="door_forced"),
                Severity.INFO, name, time, reading=reading))

        def commit() -> None:
            if state == "forced":
                session.forced.add(name)
            elif state == "closed":
                session.forced.discard(name)

        return events, commit

    @staticmethod
    def _door(config: Controller, number: int | None) -> DoorMap | None:
        if number is None:
            doors = {d.door for d in config.doors}
            return config.doors[0] if len(doors) == 1 else None
        return next((d for d in config.doors if d.door == number), None)

    # --- actions -------------------------------------------------------------------------------

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if action == "open":
            return await self._open(self._gate(args))
        if action == "gate_mode":
            mode = args.get("mode")
            if mode not in GATE_MODES:
                raise ActionError(f"{self.device_id}: gate_mode needs mode, one of "
                                  f"{', '.join(GATE_MODES)} (got {mode!r})")
            return await self._set_mode(self._gate(args), mode)
        if action == "status":
            return self.counts()
        raise ActionError(f"{self.device_id}: unknown action {action!r} (known: open, "
                          "gate_mode, status)")

    def _gate(self, args: Mapping[str, Any]) -> str:
        gate = args.get("gate")
        gates = self.config.gates()
        if gate is None and len(gates) == 1:
            return next(iter(gates))
        if gate not in gates:
            raise ActionError(f"{self.device_id}: no gate {gate!r} (gates: "
                              f"{', '.join(sorted(gates))})")
        return str(gate)

    def _targets(self, gate: str) -> list[tuple[ControllerSession, int]]:
        targets: list[tuple[ControllerSession, int]] = []
        for session in self._sessions.values():
            for number in sorted({d.door for d in session.config.doors if d.gate == gate}):
                targets.append((session, number))
        return targets

    async def _open(self, gate: str) -> dict[str, Any]:
        async def one(session: ControllerSession, door: int) -> dict[str, Any]:
            if session.commands is None:
                return _door_result(session, door, False, "answer",
                                    "no command channel in the site file")
            outcome = await session.commands.open(door)
            return _door_result(session, door, outcome.ok, "answer", outcome.error)

        doors = await asyncio.gather(*(one(s, d) for s, d in self._targets(gate)))
        return _gate_result(gate, self._gate_modes.get(gate, "normal"), list(doors))

    async def _set_mode(self, gate: str, mode: GateMode) -> dict[str, Any]:
        async def one(session: ControllerSession, door: int) -> dict[str, Any]:
            commands = session.commands
            if commands is None:
                return _door_result(session, door, False, "answer",
                                    "no command channel in the site file")
            outcome: Outcome = await commands.set_mode(door, mode)
            if not outcome.ok or not commands.channel.read_back:
                return _door_result(session, door, outcome.ok, "answer", outcome.error)
            try:
                seen = await commands.read_mode(door)
            except CommandFailed as exc:
                result = _door_result(session, door, True, "answer", "")
                result["read_back_error"] = str(exc)
                return result
            if seen != mode:
                return _door_result(session, door, False, "read_back",
                                    f"the device reports door {door} {seen}")
            return _door_result(session, door, True, "read_back", "")

        doors = await asyncio.gather(*(one(s, d) for s, d in self._targets(gate)))
        result = _gate_result(gate, mode, list(doors))
        if result["confirmed"]:
            self._gate_modes[gate] = mode
        return result

    # --- what it has seen ------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        """Refused requests by reason (and by reason and sender), and per controller what was
        taken: for the gateway's metrics and the console."""
        return {
            "refused": dict(self._refusals),
            "refused_by_sender": {f"{reason} {sender}": n
                                  for (reason, sender), n in self._refused_senders.items()},
            "controllers": {
                s.config.id: {"online": s.online, "last_peer": s.last_peer,
                              "accepted": dict(s.accepted),
                              "last_remote_check": s.last_remote_check}
                for s in self._sessions.values()
            },
        }


def _nothing() -> None:
    return None


def reading_of(observation: Observation) -> str:
    """The device's own identity of one event, the same in each retry of it: its serial number
    (webhook id) with its time, else a digest of its time and content; "" when it gives
    neither serial nor time (two identical events could not be told from a retry)."""
    if observation.kind == "heartbeat":
        return ""
    stamp = observation.time.isoformat() if observation.time else ""
    if observation.reference:
        return f"{observation.kind}|{observation.reference}|{stamp}"
    if not stamp:
        return ""
    content = "|".join(str(part) for part in (
        stamp, observation.kind, observation.door, observation.reader, observation.credential,
        observation.granted, observation.door_state, observation.tamper,
        observation.device_reason, observation.detail))
    return "sha256:" + hashlib.sha256(content.encode()).hexdigest()[:32]


def _door_result(session: ControllerSession, door: int, confirmed: bool, by: str,
                 error: str) -> dict[str, Any]:
    return {"controller": session.config.id, "door": door, "confirmed": confirmed,
            "confirmed_by": by, "error": error}


def _gate_result(gate: str, mode: str, doors: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [f"{d['controller']} door {d['door']}: {d['error']}" for d in doors if d["error"]]
    confirmed = bool(doors) and all(d["confirmed"] for d in doors)
    by = "read_back" if doors and all(d["confirmed_by"] == "read_back" for d in doors) \
        else "answer"
    return {"gate": gate, "mode": mode, "confirmed": confirmed, "error": "; ".join(errors),
            "confirmed_by": by, "doors": doors}


def _normal_ip(host: str) -> str:
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return str(address)
    return host


def _path(request: Request) -> str:
    """The request's path and query as the client wrote them in the request line."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.scope.get("query_string", b"")
    return path + (f"?{query.decode('latin-1')}" if query else "")


def _peer(request: Request) -> str:
    return _normal_ip(request.client.host) if request.client else "unknown"
