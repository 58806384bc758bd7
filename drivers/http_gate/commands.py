"""The gateway's side of a controller's command channel: door control, remote verification,
reading the door mode back.

``isapi``: ``PUT /ISAPI/AccessControl/RemoteControl/door/<n>`` with a ``RemoteControlDoor``
``cmd`` (open, alwaysOpen, alwaysClose, and resume or close for normal), ``PUT
/ISAPI/AccessControl/remoteCheck?format=json`` and ``GET
/ISAPI/AccessControl/AcsWorkStatus?format=json`` (``doorStatus``), all with digest
authentication (the device challenges, we answer).

``webhook``: ``POST /gate/open`` ``{"door": n}``, ``POST /gate/mode`` ``{"door": n, "mode":
...}``, ``GET /gate/state`` -> ``{"doors": {"<n>": {"mode": ...}}}``, requests and answers
signed like the pushes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from drivers.http_gate import isapi, webhook
from drivers.http_gate.body import BodyError, read_all
from drivers.http_gate.models import CommandChannel, Controller, GateMode
from drivers.http_gate.observations import ParseError
from drivers.http_gate.signing import (
    ANSWER,
    NONCE_HEADER,
    SignatureChecker,
    SignatureError,
    signed_headers,
)
from gateway.kernel.boundary import BoundaryError, device_text, json_object, parse_json

MAX_ANSWER = 64 * 1024
ANSWER_WINDOW = 300.0  # how far a webhook controller's answer time stamp may be off ours


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str = ""


class CommandFailed(Exception):
    pass


class ControllerCommands:
    """One controller's command channel; an httpx client kept for its connections."""

    def __init__(self, controller: Controller, channel: CommandChannel) -> None:
        self.controller = controller
        self.channel = channel
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            auth: httpx.Auth | None = None
            if self.controller.dialect == "isapi":
                assert self.channel.password is not None
                auth = httpx.DigestAuth(self.channel.username, self.channel.password.read())
            self._client = httpx.AsyncClient(base_url=self.channel.base, auth=auth,
                                             timeout=self.channel.timeout,
                                             verify=self.channel.verify_tls,
                                             follow_redirects=False)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _send(self, method: str, path: str, body: bytes = b"",
                    content_type: str = "application/xml") -> bytes:
        headers = {"Content-Type": content_type} if body else {}
        if self.controller.dialect == "webhook":
            assert self.controller.secret is not None
            headers.update(signed_headers(self.controller.device_key,
                                          self.controller.secret.read(), body, method, path))
        try:
            async with self._http().stream(method, path, content=body or None,
                                           headers=headers) as response:
                content = await self._read(response)
        except httpx.TimeoutException:
            raise CommandFailed(f"no answer from {self.channel.base} within "
                                f"{self.channel.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise CommandFailed(f"{self.channel.base}: {type(exc).__name__}: {exc}") from None
        if self.controller.dialect == "webhook" and response.status_code < 300:
            self._check_answer(response, content, headers[NONCE_HEADER])
        if response.status_code == 401:
            raise CommandFailed(f"{self.channel.base} refused our credentials (401)")
        if response.status_code >= 300:
            _, words = isapi.response_status(content)
            raise CommandFailed(f"{self.channel.base} answered {response.status_code}"
                                + (f": {words}" if words else ""))
        return content

    async def _read(self, response: httpx.Response) -> bytes:
        """The controller's answer, streamed and refused past ``MAX_ANSWER`` bytes."""
        try:
            return await read_all(response.aiter_bytes(), MAX_ANSWER)
        except BodyError:
            raise CommandFailed(f"{self.channel.base} answered more than {MAX_ANSWER} "
                                "bytes; refused") from None

    def _check_answer(self, response: httpx.Response, content: bytes, nonce: str) -> None:
        """A webhook controller signs its answers: an answer we cannot verify is no answer."""
        assert self.controller.secret is not None
        checker = SignatureChecker(ANSWER_WINDOW)
        try:
            checker.check(self.controller.secret.read(), response.headers, content, ANSWER,
                          nonce)
        except SignatureError as exc:
            raise CommandFailed(f"{self.channel.base}: unsigned or wrongly signed answer: "
                                f"{exc}") from None

    async def _isapi_door(self, door: int, cmd: str) -> Outcome:
        try:
            content = await self._send("PUT", f"/ISAPI/AccessControl/RemoteControl/door/{door}",
                                       isapi.door_command(cmd))
        except CommandFailed as exc:
            return Outcome(False, str(exc))
        ok, words = isapi.response_status(content)
        return Outcome(ok, "" if ok else f"the device answered {words}")

    async def open(self, door: int) -> Outcome:
        if self.controller.dialect == "isapi":
            return await self._isapi_door(door, "open")
        return await self._webhook_post(webhook.OPEN_PATH, {"door": door})

    async def set_mode(self, door: int, mode: GateMode) -> Outcome:
        if self.controller.dialect == "isapi":
            cmd = self.channel.normal_command if mode == "normal" else isapi.COMMANDS[mode]
            return await self._isapi_door(door, cmd)
        return await self._webhook_post(webhook.MODE_PATH, {"door": door, "mode": mode})

    async def read_mode(self, door: int) -> str:
        """The door's mode as the device reports it; CommandFailed if it cannot be read."""
        if self.controller.dialect == "isapi":
            content = await self._send("GET", "/ISAPI/AccessControl/AcsWorkStatus?format=json")
            try:
                modes = isapi.door_modes(content)
            except ParseError as exc:
                raise CommandFailed(str(exc)) from None
            if door > len(modes):
                raise CommandFailed(f"AcsWorkStatus lists {len(modes)} doors, not door {door}")
            return modes[door - 1]
        content = await self._send("GET", webhook.STATE_PATH)
        try:
            mode = json_object(content, what=webhook.STATE_PATH,
                               max_bytes=MAX_ANSWER)["doors"][str(door)]["mode"]
        except (BoundaryError, KeyError, TypeError):
            raise CommandFailed(f"{webhook.STATE_PATH} does not give door {door}'s mode") from None
        return device_text(mode, 32)

    async def remote_check(self, serial_no: str, granted: bool, info: str) -> Outcome:
        """isapi, asks: tell the device to open (success) or refuse (failed) event serial_no."""
        try:
            content = await self._send("PUT", "/ISAPI/AccessControl/remoteCheck?format=json",
                                       isapi.remote_check(serial_no, granted, info),
                                       "application/json")
        except CommandFailed as exc:
            return Outcome(False, str(exc))
        ok, words = isapi.response_status(content)
        return Outcome(ok, "" if ok else f"the device answered {words}")

    async def _webhook_post(self, path: str, payload: dict[str, object]) -> Outcome:
        try:
            content = await self._send("POST", path, json.dumps(payload).encode(),
                                       "application/json")
        except CommandFailed as exc:
            return Outcome(False, str(exc))
        try:
            answer = parse_json(content, what="the controller's answer",
                                max_bytes=MAX_ANSWER) if content.strip() else {}
        except BoundaryError as exc:
            return Outcome(False, str(exc))
        if isinstance(answer, dict) and answer.get("ok") is False:
            return Outcome(False, f"the controller refused: "
                                  f"{device_text(answer.get('error', ''), 200)}")
        return Outcome(True)
