"""A simulated networked gate controller, written to its dialect's conventions, not to our driver.

As an ISAPI device (``dialect: isapi``) it pushes ``EventNotificationAlert`` messages to its
``httpHosts`` server (the gateway's receiver) as ``multipart/form-data`` with boundary
``MIME_boundary`` and an ``event_log`` part (JSON or XML, optionally a ``Picture`` part),
answering the server's digest challenge with httpx's digest client; it sends ``heartBeat``
events while idle; in mode ``asks`` it marks credential events ``remoteCheck: true`` and waits
for ``PUT /ISAPI/AccessControl/remoteCheck?format=json``. Its own ISAPI server (the command
channel, digest-protected with the ``command`` credentials) serves
``PUT /ISAPI/AccessControl/RemoteControl/door/<n>``, ``GET /ISAPI/AccessControl/AcsWorkStatus``
and the remoteCheck answer.

As a webhook device it POSTs signed JSON events, checks the signature of the gateway's answer
before it opens on it, and serves ``/gate/open``, ``/gate/mode`` and ``/gate/state`` (signed).

Pushes go out one at a time, in order; one the gateway did not take (no connection, a 5xx) is
sent again, as a device keeps events while its server is away; one refused (4xx) is dropped and
counted. In mode ``decides`` it decides with its own card list (``enrol``/``revoke``). An event
keeps the time it happened at in every retry. For tests of the receiver's defences: ``repeats``
sends each accepted push that many times more (as a device whose answers were lost),
``device_time`` dates every event with a clock of its own (``9999-12-31T23:59:59+08:00``), and
``push_raw`` sends any body through the controller's own authentication or signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import socket
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import defusedxml.ElementTree as SafeXml
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from drivers.http_gate import isapi
from drivers.http_gate.digest import DigestAuthority
from drivers.http_gate.driver import ISAPI_PATH
from drivers.http_gate.models import Controller, HttpGateReceiverConfig
from drivers.http_gate.signing import (
    ANSWER,
    NONCE_HEADER,
    SignatureChecker,
    SignatureError,
    answer_headers,
    nonce_of,
    signed_headers,
)
from drivers.http_gate.webhook import MODE_PATH, OPEN_PATH, PUSH_PATH, STATE_PATH
from simulators.dialects import settings_of
from simulators.http_gate.dialects import ControllerOptions, Firmware, PushFormat
from simulators.simulator import InvalidArguments, StartError, parse_arguments

log = logging.getLogger(__name__)

BOUNDARY = "MIME_boundary"
RETRY_DELAY = 0.3
UNLOCK_SECONDS = 3.0
DOOR_STATUS = {"normal": 4, "free": 2, "locked": 3}  # AcsWorkStatus doorStatus
ISAPI_COMMANDS = {"open": None, "close": "normal", "resume": "normal", "alwaysOpen": "free",
                  "alwaysClose": "locked"}
# the namespace cameras and face terminals put on their XML (the controllers: isapi.XML_NS)
HIKVISION_NS = "http://www.hikvision.com/ver20/XMLSchema"


@dataclass
class SimDoor:
    number: int
    mode: str = "normal"  # normal, locked, free
    contact: str = "closed"  # closed, open
    opens: int = 0  # remote "open" commands carried out
    unlocked_until: float = 0.0

    def view(self, now: float) -> dict[str, Any]:
        return {"door": self.number, "mode": self.mode, "contact": self.contact,
                "lock": "unlocked" if self.mode == "free" or now < self.unlocked_until
                else "locked", "remote_opens": self.opens}


@dataclass
class Push:
    kind: str
    payload: dict[str, Any]
    serial: int | None = None
    picture: bool = False
    nonce: str = ""  # webhook: the nonce it was last signed with (its answer names it)
    time: str = ""  # when it happened, on the device's clock: the same in every retry
    repeats: int = 0  # sent again this many times once accepted


@dataclass
class Counters:
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    retried: int = 0
    heartbeats: int = 0
    remote_checks: int = 0
    commands: int = 0
    refused_commands: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def connect_host(listen_host: str) -> str:
    """Where to reach a receiver that listens on ``listen_host`` (any-address -> loopback)."""
    if listen_host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if listen_host == "::":
        return "::1"
    return listen_host


class SimulatedController:
    def __init__(self, receiver: HttpGateReceiverConfig, config: Controller, *,
                 heartbeat_interval: float | None = None, remote_check_timeout: float = 5.0,
                 model: str = "DS-K1T-SIM") -> None:
        self.config = config
        self.device_id = config.id
        host = connect_host(receiver.listen.host)
        shown = f"[{host}]" if ":" in host else host
        path = ISAPI_PATH if config.dialect == "isapi" else PUSH_PATH
        self.push_url = f"{receiver.scheme}://{shown}:{receiver.listen.port}{path}"
        timeout = config.heartbeat_timeout or receiver.heartbeat_timeout
        self.heartbeat_interval = heartbeat_interval or max(0.2, min(30.0, timeout / 3))
        self.remote_check_timeout = remote_check_timeout
        self.model = model
        self.mac = config.identity.mac or _fake_mac(config.id)
        self.doors = {n: SimDoor(n) for n in sorted({d.door for d in config.doors})}
        self.cards: set[str] = set()
        self.online = True
        options = parse_arguments(ControllerOptions, f"controller {config.id}: simulator",
                                  settings_of("http_gate", config.model_dump(), config.simulator,
                                              f"controller {config.id}"))
        self.push_format: PushFormat = options.format
        self.picture = options.pictures
        self.single_door = options.single_door  # no doorNo, as single-door terminals push
        self.firmware: Firmware = options.firmware
        self.sign_wrong_next = False
        self.repeats = 0
        self.device_time: str | None = None
        self.answer_bytes = 0  # door commands answered with this much padding (an XML comment)
        self.counters = Counters()
        self.last_access: dict[str, Any] | None = None
        self.last_refusal = ""
        self._serials = itertools.count(1)
        self._queue: deque[Push] = deque()
        self._wake = asyncio.Event()
        self._online = asyncio.Event()
        self._online.set()
        self._pending: dict[int, tuple[asyncio.Future[bool], dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._server: _InLoopServer | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._loop_time = 0.0
        self._started = 0.0  # loop time at start: the deviceUpTime it reports
        self._secret = ""
        self._digest: DigestAuthority | None = None
        self._command_password = ""
        self._signatures: SignatureChecker | None = None

    # --- life ------------------------------------------------------------------------------------

    @property
    def command_address(self) -> tuple[str, int] | None:
        if self.config.command is None:
            return None
        parts = urlsplit(self.config.command.base)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.hostname or "127.0.0.1", port

    async def start(self) -> None:
        self._started = asyncio.get_running_loop().time()
        self._read_secrets()
        await self._start_server()
        self._tasks = [asyncio.create_task(self._pushing(), name=f"{self.device_id} pushes"),
                       asyncio.create_task(self._heartbeats(), name=f"{self.device_id} beats")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self._stop_server()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _read_secrets(self) -> None:
        from gateway.kernel.fields import ConfigError

        try:
            if self.config.secret is not None:
                self._secret = self.config.secret.read()
            if self.config.command is not None and self.config.command.password is not None:
                self._command_password = self.config.command.password.read()
            if self.config.push_auth is not None:
                self.config.push_auth.password.read()
        except ConfigError as exc:
            raise StartError(f"{self.device_id}: {exc}") from None
        if self.config.dialect == "isapi":
            self._digest = DigestAuthority(self.model)
        else:
            self._signatures = SignatureChecker(300.0)

    async def _start_server(self) -> None:
        address = self.command_address
        if address is None or self._server_task is not None:
            return
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise StartError(f"{self.device_id}: cannot serve its command channel on "
                             f"{host}:{port}: {exc.strerror}") from None
        self._server = _InLoopServer(uvicorn.Config(
            self._app(), log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=1))
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._server_task.done():
                await self._server_task
                raise StartError(f"{self.device_id}: command channel stopped while starting")
            await asyncio.sleep(0.01)

    async def _stop_server(self) -> None:
        if self._server is None or self._server_task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server_task, 5)
        self._server = None
        self._server_task = None

    async def go_offline(self) -> None:
        self.online = False
        self._online.clear()
        await self._stop_server()

    async def go_online(self) -> None:
        self.online = True
        await self._start_server()
        self._online.set()
        self._wake.set()

    # --- what happens at the gate ----------------------------------------------------------------

    def _door(self, door: int | None) -> SimDoor:
        number = door if door is not None else next(iter(self.doors))
        if number not in self.doors:
            raise InvalidArguments(f"{self.device_id}: no door {number} (doors: "
                                   f"{', '.join(map(str, self.doors))})")
        return self.doors[number]

    def _reader(self, door: int, reader: int | None) -> int:
        if reader is not None:
            return reader
        mapped = [d.reader for d in self.config.doors if d.door == door and d.reader]
        return mapped[0] if mapped else 1

    def present_card(self, card: str, door: int | None, reader: int | None,
                     verify: str = "card") -> int:
        sim_door = self._door(door)
        reader_no = self._reader(sim_door.number, reader)
        serial = next(self._serials)
        event: dict[str, Any] = {"doorNo": sim_door.number, "cardReaderNo": reader_no,
                                 "cardNo": card, "cardType": 1, "serialNo": serial,
                                 "currentVerifyMode": "fingerPrint" if verify == "fingerprint"
                                 else "card"}
        if self.single_door or self.firmware == "face_terminal":
            del event["doorNo"]
        if self.config.mode == "asks":
            event.update(majorEventType=5, subEventType=0x01, remoteCheck=True)
            self.last_access = {"card": card, "door": sim_door.number, "decided_by": "gateway",
                                "granted": None, "serial": serial}
            if self.config.dialect == "isapi":
                future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                self._pending[serial] = (future, self.last_access)
                task = asyncio.create_task(self._await_check(serial, sim_door))
                self._tasks.append(task)
        else:
            granted, minor = self._local_decision(card, sim_door)
            if verify == "fingerprint" and minor in (0x01, 0x09):
                minor = 0x26 if granted else 0x27  # fingerprint compare pass / fail
            if self.firmware == "face_terminal" and minor in (0x01, 0x09):
                minor = 0x4B if granted else 0x4C  # face authentication pass / fail
            event.update(majorEventType=5, subEventType=minor)
            self.last_access = {"card": card, "door": sim_door.number, "decided_by": "device",
                                "granted": granted, "serial": serial}
            if granted:
                self._unlock(sim_door)
        if self.firmware == "face_terminal":
            self._as_face_terminal(event, card)
        self._push("credential", event, serial)
        return serial

    @staticmethod
    def _as_face_terminal(event: dict[str, Any], person: str) -> None:
        """A face terminal's access event (DS-K1T341/671-class captures quoted in open-source
        integrations' fixtures, docs/http-gate-controllers.md): the person's number in
        ``employeeNoString``, no ``cardNo``; ``serialNo`` only when it asks (the remoteCheck
        must name it); fields of its own the gateway does not use."""
        serial = event.pop("serialNo")
        remote = event.get("remoteCheck")
        del event["cardNo"], event["cardType"]
        event.update(employeeNoString=person, cardReaderKind=1, verifyNo=211,
                     frontSerialNo=serial - 1, attendanceStatus="undefined", userType="normal",
                     mask="no", currentVerifyMode="cardOrFaceOrFp", statusValue=0)
        if remote:
            event["serialNo"] = serial

    def _local_decision(self, card: str, door: SimDoor) -> tuple[bool, int]:
        if door.mode == "locked":
            return False, 0x75  # door remains closed
        if door.mode == "free" or card in self.cards:
            return True, 0x01  # legal card pass
        return False, 0x09  # no such card

    def _unlock(self, door: SimDoor) -> None:
        door.unlocked_until = asyncio.get_running_loop().time() + UNLOCK_SECONDS

    async def _await_check(self, serial: int, door: SimDoor) -> None:
        future, access = self._pending[serial]
        try:
            granted = await asyncio.wait_for(future, self.remote_check_timeout)
        except TimeoutError:
            granted = False
            access["timed_out"] = True
        finally:
            self._pending.pop(serial, None)
        access["granted"] = granted
        if granted:
            self._unlock(door)

    def door_event(self, state: str, door: int | None) -> None:
        sim_door = self._door(door)
        minors = {"opened": 0x19, "closed": 0x1A, "forced": 0x1B, "held_open": 0x1C,
                  "exit_request": 0x17}
        if state in ("opened", "forced", "held_open"):
            sim_door.contact = "open"
        elif state == "closed":
            sim_door.contact = "closed"
        self._push("door", {"majorEventType": 5, "subEventType": minors[state],
                            "doorNo": sim_door.number, "serialNo": next(self._serials),
                            "state": state})

    def tamper(self, active: bool, reader: int | None) -> None:
        minor = (0x406 if active else 0x407) if reader else (0x404 if active else 0x405)
        event: dict[str, Any] = {"majorEventType": 1, "subEventType": minor,
                                 "serialNo": next(self._serials), "active": active}
        if reader:
            event["cardReaderNo"] = reader
        self._push("tamper", event)

    def heartbeat(self) -> None:
        self._push("heartbeat", {})

    # --- pushing ---------------------------------------------------------------------------------

    def _push(self, kind: str, event: dict[str, Any], serial: int | None = None) -> None:
        time = self.device_time or datetime.now().astimezone().isoformat(timespec="seconds")
        self._queue.append(Push(kind, event, serial, self.picture, time=time,
                                repeats=self.repeats if kind != "heartbeat" else 0))
        self._wake.set()

    async def _heartbeats(self) -> None:
        """The first at once, as a device announces itself when its push link comes up."""
        while True:
            if self.online and not self._queue:
                self._push("heartbeat", {})
            await asyncio.sleep(self.heartbeat_interval)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0, verify=False)
        return self._client

    async def _pushing(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            await self._online.wait()
            item = self._queue[0]
            try:
                status, content, headers = await self._send(item)
            except httpx.HTTPError as exc:
                self.counters.retried += 1
                log.debug("%s: push failed (%s); sending it again", self.device_id, exc)
                await asyncio.sleep(RETRY_DELAY)
                continue
            self.counters.statuses[status] += 1
            if status >= 500 or status == 429:
                self.counters.retried += 1
                await asyncio.sleep(RETRY_DELAY)
                continue
            if status < 300 and item.repeats > 0:
                item.repeats -= 1  # "its answer was lost": the same event once more
                self.counters.retried += 1
                continue
            self._queue.popleft()
            if status >= 300:
                self.counters.refused += 1
                self.last_refusal = f"{status}: {content[:200].decode(errors='replace')}"
                continue
            self.counters.accepted += 1
            if item.kind == "heartbeat":
                self.counters.heartbeats += 1
            if self.config.dialect == "webhook" and item.kind == "credential" \
                    and self.config.mode == "asks":
                self._webhook_verdict(item, content, headers)

    async def _send(self, item: Push) -> tuple[int, bytes, httpx.Headers]:
        self.counters.sent += 1
        if self.config.dialect == "isapi":
            body, content_type = self._isapi_body(item)
        else:
            body, content_type = self._webhook_body(item), "application/json"
        status, content, headers, item.nonce = await self._post(body, content_type)
        return status, content, headers

    async def push_raw(self, body: bytes, content_type: str) -> tuple[int, bytes]:
        """Any body, through this controller's own digest or signature: (status, answer)."""
        status, content, _, _ = await self._post(body, content_type)
        return status, content

    async def _post(self, body: bytes, content_type: str
                    ) -> tuple[int, bytes, httpx.Headers, str]:
        """POST ``body`` as this controller: status, answer, its headers and (webhook) the
        nonce the request was signed with (the answer names it)."""
        wrong = self.sign_wrong_next
        self.sign_wrong_next = False
        if self.config.dialect == "isapi":
            headers = {"Content-Type": content_type}
            if self.config.push_auth is not None:
                password = self.config.push_auth.password.read()
                auth = httpx.DigestAuth(self.config.push_auth.username,
                                        password + "-wrong" if wrong else password)
                response = await self._http().post(self.push_url, content=body, auth=auth,
                                                   headers=headers)
            else:
                response = await self._http().post(self.push_url, content=body,
                                                   headers=headers)
        else:
            headers = signed_headers(self.config.device_key,
                                     self._secret + ("-wrong" if wrong else ""), body, "POST",
                                     urlsplit(self.push_url).path)
            headers["Content-Type"] = content_type
            response = await self._http().post(self.push_url, content=body, headers=headers)
            return response.status_code, response.content, response.headers, \
                headers[NONCE_HEADER]
        return response.status_code, response.content, response.headers, ""

    def _alert(self, item: Push) -> dict[str, Any]:
        host = connect_host(self.command_address[0]) if self.command_address else "127.0.0.1"
        alert: dict[str, Any] = {
            "ipAddress": host, "portNo": self.command_address[1] if self.command_address else 80,
            "protocol": "HTTP", "macAddress": self.mac, "channelID": 1,
            "dateTime": item.time,
            "activePostCount": 1,
        }
        if self.firmware == "face_terminal":  # its pushes name neither
            del alert["macAddress"], alert["channelID"]
        if item.kind == "heartbeat":
            alert.update(eventType="heartBeat", eventState="active",
                         eventDescription="heartBeat")
            return alert
        event = {k: v for k, v in item.payload.items() if k not in ("state", "active")}
        event["deviceName"] = self.model
        alert.update(eventType="AccessControllerEvent", eventState="active",
                     eventDescription="Access Controller Event",
                     AccessControllerEvent=event)
        return alert

    def _isapi_body(self, item: Push) -> tuple[bytes, str]:
        alert = self._alert(item)
        if self.push_format == "xml":
            part = _alert_xml(alert, isapi.XML_NS if self.firmware == "controller"
                              else HIKVISION_NS)
            part_type = 'application/xml; charset="UTF-8"'
        else:
            part = json.dumps(alert, indent="\t").encode()
            part_type = 'application/json; charset="UTF-8"'
        chunks = [f"--{BOUNDARY}\r\n".encode(),
                  b'Content-Disposition: form-data; name="%s"\r\n'
                  % (b"AccessControllerEvent" if self.firmware == "face_terminal"
                     else b"event_log"),
                  f"Content-Type: {part_type}\r\nContent-Length: {len(part)}\r\n\r\n".encode(),
                  part, b"\r\n"]
        if item.picture and item.kind != "heartbeat":
            picture = _fake_jpeg(96 * 1024)
            chunks += [f"--{BOUNDARY}\r\n".encode(),
                       b'Content-Disposition: form-data; name="Picture"; '
                       b'filename="Picture.jpg"\r\n',
                       f"Content-Type: image/jpeg\r\nContent-Length: {len(picture)}\r\n\r\n"
                       .encode(), picture, b"\r\n"]
        chunks.append(f"--{BOUNDARY}--\r\n".encode())
        return b"".join(chunks), f"multipart/form-data; boundary={BOUNDARY}"

    def _webhook_body(self, item: Push) -> bytes:
        event = item.payload
        body: dict[str, Any] = {"type": item.kind, "time": item.time}
        if "serialNo" in event:
            body["id"] = f"{self.device_id}-{event['serialNo']}"
        if event.get("doorNo"):
            body["door"] = event["doorNo"]
        if event.get("cardReaderNo"):
            body["reader"] = event["cardReaderNo"]
        if item.kind == "credential":
            body["credential"] = event["cardNo"]
            if self.config.mode == "decides":
                granted = event["subEventType"] in isapi.GRANTED
                name = isapi.GRANTED.get(event["subEventType"]) or \
                    isapi.DENIED[event["subEventType"]]
                body["decision"] = {"granted": granted, "reason": name}
        elif item.kind == "door":
            body["state"] = event["state"]
        elif item.kind == "tamper":
            body["active"] = event["active"]
        return json.dumps(body).encode()

    def _webhook_verdict(self, item: Push, content: bytes, headers: httpx.Headers) -> None:
        """A webhook device opens only on an answer signed by the gateway."""
        access: dict[str, Any] = {"serial": item.serial}
        if self.last_access and self.last_access.get("serial") == item.serial:
            access = self.last_access
        try:
            SignatureChecker(300.0).check(self._secret, headers, content, ANSWER, item.nonce)
            verdict = json.loads(content)
        except (SignatureError, ValueError) as exc:
            access.update(granted=False, error=f"answer refused: {exc}")
            return
        granted = bool(verdict.get("open")) and bool(verdict.get("granted"))
        access.update(granted=granted, reason=verdict.get("reason"))
        if granted:
            self._unlock(self._door(item.payload.get("doorNo")))

    # --- the command channel (the device's server) -----------------------------------------------

    def _app(self) -> Starlette:
        if self.config.dialect == "isapi":
            routes = [
                Route("/ISAPI/AccessControl/RemoteControl/door/capabilities",
                      self._isapi_document, methods=["GET"]),
                Route("/ISAPI/AccessControl/RemoteControl/door/{door}", self._isapi_door,
                      methods=["PUT"]),
                Route("/ISAPI/AccessControl/AcsWorkStatus", self._isapi_status, methods=["GET"]),
                Route("/ISAPI/AccessControl/remoteCheck", self._isapi_remote_check,
                      methods=["PUT"]),
                Route("/ISAPI/System/deviceInfo", self._isapi_device_info, methods=["GET"]),
                *(Route(path, self._isapi_document, methods=["GET"]) for path in (
                    "/ISAPI/System/status", "/ISAPI/System/capabilities",
                    "/ISAPI/Event/notification/httpHosts")),
            ]
        else:
            routes = [Route(OPEN_PATH, self._webhook_open, methods=["POST"]),
                      Route(MODE_PATH, self._webhook_mode, methods=["POST"]),
                      Route(STATE_PATH, self._webhook_state, methods=["GET"])]
        return Starlette(routes=routes)

    def _isapi_auth(self, request: Request) -> Response | None:
        assert self._digest is not None and self.config.command is not None
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        user = self.config.command.username
        result = self._digest.verify(request.headers.get("authorization"), request.method, uri,
                                     lambda name: self._command_password if name == user
                                     else None)
        if result.ok:
            self.counters.commands += 1
            return None
        if request.headers.get("authorization") and not result.stale:
            self.counters.refused_commands += 1
        return Response(_status(request, 4, "Invalid Operation", "badAuthorization"), 401,
                        {"WWW-Authenticate": self._digest.challenge(result.stale)},
                        media_type="application/xml")

    async def _isapi_door(self, request: Request) -> Response:
        refused = self._isapi_auth(request)
        if refused is not None:
            return refused
        try:
            number = int(request.path_params["door"])
            root = SafeXml.fromstring(await request.body())
            cmd = next((el.text or "").strip() for el in root.iter() if el.tag.endswith("cmd"))
        except (ValueError, StopIteration, SafeXml.ParseError):
            return Response(_status(request, 4, "Invalid XML Content", "badXmlContent"), 400,
                            media_type="application/xml")
        if number not in self.doors or cmd not in ISAPI_COMMANDS:
            return Response(_status(request, 4, "Invalid Operation", "notSupport"), 400,
                            media_type="application/xml")
        door = self.doors[number]
        mode = ISAPI_COMMANDS[cmd]
        if mode is None:
            door.opens += 1
            self._unlock(door)
        else:
            door.mode = mode
        answer = _status(request, 1, "OK", "ok")
        if self.answer_bytes:
            answer += b"<!--" + b"A" * self.answer_bytes + b"-->"
        return Response(answer, media_type="application/xml")

    async def _isapi_status(self, request: Request) -> Response:
        refused = self._isapi_auth(request)
        if refused is not None:
            return refused
        count = max(self.doors)
        status = [DOOR_STATUS[self.doors[n].mode] if n in self.doors else 4
                  for n in range(1, count + 1)]
        now = asyncio.get_running_loop().time()
        return Response(json.dumps({"AcsWorkStatus": {
            "doorLockStatus": [int(n in self.doors
                                   and self.doors[n].view(now)["lock"] == "unlocked")
                               for n in range(1, count + 1)],
            "doorStatus": status,
            "magneticStatus": [1 if n in self.doors and self.doors[n].contact == "open"
                               else 0 for n in range(1, count + 1)],
        }}), media_type="application/json")

    async def _isapi_remote_check(self, request: Request) -> Response:
        refused = self._isapi_auth(request)
        if refused is not None:
            return refused
        try:
            check = json.loads(await request.body())["RemoteCheck"]
            serial = int(check["serialNo"])
            result = str(check["checkResult"])
        except (ValueError, KeyError, TypeError):
            return Response(isapi.status_answer(request.url.path, 4, "Invalid Content",
                                                "badJsonContent", as_json=True), 400,
                            media_type="application/json")
        pending = self._pending.get(serial)
        if pending is None or result not in ("success", "failed"):
            return Response(isapi.status_answer(request.url.path, 4, "Invalid Operation",
                                                "invalidSerialNo", as_json=True), 400,
                            media_type="application/json")
        self.counters.remote_checks += 1
        future, access = pending
        access["info"] = str(check.get("info", ""))
        if not future.done():
            future.set_result(result == "success")
        return Response(isapi.status_answer(request.url.path, as_json=True),
                        media_type="application/json")

    async def _isapi_document(self, request: Request) -> Response:
        """The documents an ISAPI client reads when it connects (``System/status`` first: a
        client library probes it when it is constructed), XML or ``?format=json``."""
        refused = self._isapi_auth(request)
        if refused is not None:
            return refused
        root, value = self._documents()[request.url.path]
        if _wants_json(request):
            return Response(json.dumps({root: value}), media_type="application/json")
        return Response(_xml_document(root, value, isapi.XML_NS), media_type="application/xml")

    def _documents(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Shapes from the ISAPI developer guide (DeviceStatus, DeviceCap,
        HttpHostNotificationList, the RemoteControlDoor capability), limited to what the
        simulator does."""
        up = int(asyncio.get_running_loop().time() - self._started)
        host, port = urlsplit(self.push_url).hostname or "", urlsplit(self.push_url).port
        return {
            "/ISAPI/System/status": ("DeviceStatus", {
                "currentDeviceTime": datetime.now().astimezone().isoformat(timespec="seconds"),
                "deviceUpTime": max(up, 0)}),
            "/ISAPI/System/capabilities": ("DeviceCap", {
                "SysCap": {"isSupportDeviceInfo": True, "isSupportStatus": True},
                "isSupportAcsUpdate": False, "isSupportEventNotificationHttpHost": True,
                "isSupportRemoteControlDoor": True, "isSupportAcsWorkStatus": True,
                "isSupportRemoteCheck": self.config.mode == "asks"}),
            "/ISAPI/Event/notification/httpHosts": ("HttpHostNotificationList", {
                "HttpHostNotification": [{
                    "id": 1, "url": urlsplit(self.push_url).path,
                    "protocolType": urlsplit(self.push_url).scheme.upper(),
                    "parameterFormatType": self.push_format.upper(),
                    "addressingFormatType": "ipaddress", "ipAddress": host, "portNo": port,
                    "httpAuthenticationMethod": "MD5digest"}]}),
            "/ISAPI/AccessControl/RemoteControl/door/capabilities": ("RemoteControlDoor", {
                "doorNo": {"@min": min(self.doors), "@max": max(self.doors)},
                "cmd": {"@opt": ",".join(ISAPI_COMMANDS)}}),
        }

    async def _isapi_device_info(self, request: Request) -> Response:
        refused = self._isapi_auth(request)
        if refused is not None:
            return refused
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><DeviceInfo version="2.0" '
                        f'xmlns="{isapi.XML_NS}"><deviceName>{self.device_id}</deviceName>'
                        f'<model>{self.model}</model><macAddress>{self.mac}</macAddress>'
                        f'</DeviceInfo>', media_type="application/xml")

    async def _webhook_checked(self, request: Request) -> tuple[dict[str, Any] | None,
                                                                  Response | None]:
        assert self._signatures is not None
        body = await request.body()
        try:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            self._signatures.check(self._secret, request.headers, body, request.method, path)
        except SignatureError as exc:
            self.counters.refused_commands += 1
            return None, self._signed(request, {"ok": False, "error": str(exc)}, 401)
        self.counters.commands += 1
        if not body:
            return {}, None
        try:
            value = json.loads(body)
        except ValueError:
            return None, self._signed(request, {"ok": False, "error": "body is not JSON"}, 400)
        return (value, None) if isinstance(value, dict) else \
            (None, self._signed(request, {"ok": False, "error": "body is not an object"}, 400))

    def _signed(self, request: Request, value: dict[str, Any], status: int = 200) -> Response:
        body = json.dumps(value).encode()
        headers = answer_headers(self.config.device_key, self._secret, body,
                                 nonce_of(request.headers))
        return Response(body, status, headers, media_type="application/json")

    def _webhook_target(self, value: dict[str, Any]) -> SimDoor | None:
        number = value.get("door")
        return self.doors.get(number) if isinstance(number, int) else None

    async def _webhook_open(self, request: Request) -> Response:
        value, refused = await self._webhook_checked(request)
        if refused is not None or value is None:
            return refused or self._signed(request, {"ok": False}, 400)
        door = self._webhook_target(value)
        if door is None:
            return self._signed(request, {"ok": False, "error": "no such door"}, 404)
        door.opens += 1
        self._unlock(door)
        return self._signed(request, {"ok": True})

    async def _webhook_mode(self, request: Request) -> Response:
        value, refused = await self._webhook_checked(request)
        if refused is not None or value is None:
            return refused or self._signed(request, {"ok": False}, 400)
        door = self._webhook_target(value)
        if door is None:
            return self._signed(request, {"ok": False, "error": "no such door"}, 404)
        if value.get("mode") not in DOOR_STATUS:
            return self._signed(request, {"ok": False,
                                          "error": "mode is normal, locked or free"}, 400)
        door.mode = str(value["mode"])
        return self._signed(request, {"ok": True})

    async def _webhook_state(self, request: Request) -> Response:
        _, refused = await self._webhook_checked(request)
        if refused is not None:
            return refused
        now = asyncio.get_running_loop().time()
        doors = {str(n): d.view(now) for n, d in self.doors.items()}
        return self._signed(request, {"doors": doors})

    # --- what a tester sees ----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        now = asyncio.get_running_loop().time()
        counters = self.counters
        return {
            "id": self.device_id, "dialect": self.config.dialect, "mode": self.config.mode,
            "online": self.online, "push_url": self.push_url,
            "command_url": self.config.command.base if self.config.command else None,
            "push_format": self.push_format, "pictures": self.picture,
            "doors": [d.view(now) for d in self.doors.values()],
            "cards": sorted(self.cards), "last_access": self.last_access,
            "queued": len(self._queue), "sign_wrong_next": self.sign_wrong_next,
            "last_refusal": self.last_refusal,
            "pushes": {"sent": counters.sent, "accepted": counters.accepted,
                       "refused": counters.refused, "retried": counters.retried,
                       "heartbeats": counters.heartbeats,
                       "statuses": {str(k): v for k, v in counters.statuses.items()}},
            "commands": {"served": counters.commands, "refused": counters.refused_commands,
                         "remote_checks": counters.remote_checks},
        }


def _wants_json(request: Request) -> bool:
    return request.query_params.get("format", "").lower() == "json"


def _status(request: Request, code: int, text: str, sub: str) -> bytes:
    return isapi.status_answer(request.url.path, code, text, sub, as_json=_wants_json(request))


def _xml_element(name: str, value: Any) -> str:
    """ISAPI's JSON-to-XML convention: ``@key`` is an attribute, a list repeats the element."""
    if isinstance(value, list):
        return "".join(_xml_element(name, item) for item in value)
    if isinstance(value, dict):
        attributes = "".join(f' {k[1:]}="{_xml_text(v)}"' for k, v in value.items()
                             if k.startswith("@"))
        inner = "".join(_xml_element(k, v) for k, v in value.items() if not k.startswith("@"))
        return f"<{name}{attributes}>{inner}</{name}>"
    return f"<{name}>{_xml_text(value)}</{name}>"


def _xml_text(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;")


def _xml_document(root: str, value: dict[str, Any], namespace: str) -> bytes:
    inner = "".join(_xml_element(k, v) for k, v in value.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?><{root} version="2.0" '
            f'xmlns="{namespace}">{inner}</{root}>').encode()


def _alert_xml(alert: dict[str, Any], namespace: str) -> bytes:
    return _xml_document("EventNotificationAlert", alert, namespace)


def _fake_jpeg(size: int) -> bytes:
    """A picture part's bytes: a JPEG start and end marker around filler."""
    return b"\xff\xd8\xff\xe0" + bytes(range(256)) * (size // 256) + b"\xff\xd9"


def _fake_mac(seed: str) -> str:
    digits = hashlib.sha256(seed.encode()).hexdigest()[:10]
    return "02:" + ":".join(digits[i:i + 2] for i in range(0, 10, 2))
