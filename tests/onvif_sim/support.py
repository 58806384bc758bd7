"""Shared parts of the ONVIF simulator tests: a camera on a free loopback port, real clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import httpx
from onvif import ONVIFCamera

from simulators.onvif import OnvifCameraSimulators, SimulatedCamera

T = TypeVar("T")
USER = "admin"
PASSWORD = "gate-cam-secret"
ENV = {"ONVIF_SIM_TEST_PASSWORD": PASSWORD}
TDS = "http://www.onvif.org/ver10/device/wsdl"


def stanza(**overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "id": "gate-cam", "driver": "onvif", "name": "Main gate camera",
        "host": "127.0.0.1", "port": 0, "username": USER,
        "password": {"env": "ONVIF_SIM_TEST_PASSWORD"}, "zone": "gate-house",
        "scene": "gate", "presets": ["gate", "street"],
    }
    section.update(overrides)
    return section


def run(coro: Coroutine[Any, Any, T], timeout: float = 45.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.asynccontextmanager
async def simulated(**overrides: Any) -> AsyncIterator[SimulatedCamera]:
    """A started camera (MJPEG only unless ``rtsp=True`` is given)."""
    rtsp = bool(overrides.pop("rtsp", False))
    os.environ.update(ENV)
    family = OnvifCameraSimulators([stanza(**overrides)], rtsp=rtsp)
    await family.start()
    try:
        yield family.devices[0]
    finally:
        await family.stop()


@contextlib.asynccontextmanager
async def client(camera: SimulatedCamera, password: str = PASSWORD,
                 adjust_time: bool = True) -> AsyncIterator[ONVIFCamera]:
    onvif = ONVIFCamera("127.0.0.1", camera.port, USER, password, adjust_time=adjust_time)
    try:
        await onvif.update_xaddrs()
        yield onvif
    finally:
        await onvif.close()


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    """Until ``predicate()`` is true (a behaviour, polled; the timeout only stops a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def security_header(password: str, created: dt.datetime | None = None,
                    nonce: bytes | None = None, user: str = USER) -> str:
    created_text = (created or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    nonce = nonce or uuid.uuid4().bytes
    digest = base64.b64encode(hashlib.sha1(nonce + created_text.encode() + password.encode())
                              .digest()).decode()
    return (
        '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/'
        '2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
        f'username-token-profile-1.0#PasswordDigest">{digest}</wsse:Password>'
        '<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
        f'soap-message-security-1.0#Base64Binary">{base64.b64encode(nonce).decode()}'
        f"</wsse:Nonce><wsu:Created>{created_text}</wsu:Created></wsse:UsernameToken>"
        "</wsse:Security>")


def envelope(body: str, header: str = "") -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:tds="{TDS}"><s:Header>{header}</s:Header><s:Body>{body}</s:Body>'
            "</s:Envelope>").encode()


async def soap(camera: SimulatedCamera, body: str, header: str = "",
               path: str = "/onvif/device_service") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{camera.base_url}{path}", content=envelope(body, header),
                               headers={"Content-Type": "application/soap+xml; charset=utf-8"})


async def pull(service: Any, seconds: float = 3.0, limit: int = 100) -> list[Any]:
    result = await service.PullMessages({"MessageLimit": limit,
                                         "Timeout": dt.timedelta(seconds=seconds)})
    return list(result.NotificationMessage or [])


def topic_of(message: Any) -> str:
    return str(message.Topic._value_1)


def items(message: Any, part: str = "Data") -> dict[str, str]:
    holder = getattr(message.Message._value_1, part)
    return {item.Name: item.Value for item in holder.SimpleItem}


class Inbox:
    """Messages pulled from one pull point, consumed in order by ``until``."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.pending: list[Any] = []

    async def until(self, topic: str, rounds: int = 6, **data: str) -> tuple[Any, list[Any]]:
        """The next message on ``topic`` (with these Data values), and those before it."""
        seen: list[Any] = []
        for _ in range(rounds):
            if not self.pending:
                self.pending = await pull(self.service)
            while self.pending:
                message = self.pending.pop(0)
                seen.append(message)
                if topic_of(message) == topic and all(items(message).get(k) == v
                                                      for k, v in data.items()):
                    return message, seen
        shown = [(topic_of(m), items(m)) for m in seen]
        raise AssertionError(f"no {topic} {data} in {shown}")

    async def drain(self, seconds: float = 0.3) -> list[Any]:
        messages, self.pending = self.pending, []
        return messages + await pull(self.service, seconds=seconds)
