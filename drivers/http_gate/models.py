"""Site-file section for an HTTP-push gate receiver: where it listens, which controllers it knows.

Networked turnstile and barrier controllers POST their events to the gateway. One section is one
receiver (its own listen address, normally on the controller LAN, apart from the guard-room
console); each controller behind it is a device of its own in the event stream (its ``id`` is
the events' device id), so the inventory lists controllers, not the receiver.

Two dialects: ``isapi`` (Hikvision ISAPI event notification to an ``httpHosts`` server, digest
authentication that this receiver challenges) and ``webhook`` (the documented generic JSON
webhook, HMAC-SHA256 over timestamp and raw body with a per-controller secret). See
docs/http-gate-controllers.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, IPvAnyAddress, IPvAnyNetwork, model_validator

from gateway.kernel.fields import (
    Identifier,
    Seconds,
    Secret,
    SimulatorBlock,
    Strict,
    TimeZone,
)
from gateway.kernel.http import CONNECTIONS_PER_CLIENT, REQUEST_DEADLINE

Dialect = Literal["isapi", "webhook"]
Mode = Literal["decides", "asks"]
GateMode = Literal["normal", "locked", "free"]

_MAC = re.compile(r"^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$")


def _mac(value: str) -> str:
    text = value.strip().lower()
    if not _MAC.match(text):
        raise ValueError(f"{value!r} is not a MAC address (6 hex pairs, e.g. c0:6d:ed:02:d3:d9)")
    digits = re.sub(r"[^0-9a-f]", "", text)
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def normal_mac(value: str) -> str | None:
    """A MAC address as this module writes it (lower case, colons), or None if it is none."""
    try:
        return _mac(value)
    except ValueError:
        return None


MacAddress = Annotated[str, AfterValidator(_mac)]


class Listen(Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=8088, ge=1, le=65535)


class ReceiverTls(Strict):
    cert_file: Path
    key_file: Path


class Identity(Strict):
    """How a controller is recognised, as its dialect gives it; every one given must match."""

    serial: str | None = Field(default=None, min_length=1, max_length=64,
                               description="webhook: the X-Gate-Device header (default: the "
                                           "controller id)")
    mac: MacAddress | None = Field(default=None, description="isapi: the macAddress the device "
                                                             "writes in its events")
    peer: IPvAnyAddress | None = Field(default=None, description="source IP address it pushes "
                                                                  "from; others are refused")


class PushCredentials(Strict):
    """isapi: the user name and password the device answers our digest challenge with (set on
    the device in its httpHosts entry, httpAuthenticationMethod MD5digest)."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[^\"\\:\s]+$")
    password: Secret


class CommandChannel(Strict):
    """Where the gateway reaches the controller for ``open``, ``gate_mode`` and (isapi, asks)
    the remote-verification answer."""

    url: str = Field(pattern=r"^https?://[^/\s]+/?$", description="base URL, e.g. "
                                                                    "http://10.20.0.21")
    username: str = Field(default="admin", min_length=1, max_length=64,
                          description="isapi: digest user on the device")
    password: Secret | None = Field(default=None, description="isapi: digest password")
    timeout: Seconds = Field(default=5.0, gt=0, le=60)
    verify_tls: bool = True
    normal_command: Literal["resume", "close"] = Field(
        default="resume", description="isapi: the RemoteControlDoor cmd that returns a door to "
        "normal (controlled) mode; firmware that lists only open/close/alwaysOpen/alwaysClose "
        "in /RemoteControl/door/capabilities needs close")
    read_back: bool = Field(default=True, description="read the door mode back after gate_mode"
                            " (isapi: AcsWorkStatus; webhook: /gate/state)")

    @property
    def base(self) -> str:
        return self.url.rstrip("/")


def default_reader_name(door: int | None, reader: int | None) -> str:
    """A reader's id in events when the site file gives none: ``door<n>[-reader<m>]`` (either
    part left out when the device does not say it)."""
    return "-".join(f"{part}{n}" for part, n in (("door", door), ("reader", reader)) if n)


class DoorMap(Strict):
    """A door (or a reader of a door) of the controller: the gate it lets people through."""

    door: int = Field(ge=1, le=65535, description="the controller's door number (isapi doorNo)")
    reader: int | None = Field(default=None, ge=1, le=65535,
                               description="reader number (isapi cardReaderNo); omitted: every "
                                           "reader of the door")
    gate: Identifier
    direction: Literal["in", "out"]
    door_id: Identifier | None = Field(default=None, description="the door (access.doors) "
                                       "whose contact this is; door.* events name it (none: "
                                       "the controller's door reports make no event)")
    reader_id: Identifier | None = Field(default=None, description="reader id in events "
                                         "(default: door<n>[-reader<m>])")
    name: str = ""

    @property
    def reader_name(self) -> str:
        return self.reader_id or default_reader_name(self.door, self.reader)


class Controller(Strict):
    id: Identifier
    name: str = ""
    zone: Identifier | None = None
    dialect: Dialect
    mode: Mode = Field(description="decides: it decides and reports; asks: it asks the gateway "
                                   "(remote verification) and opens on the answer")
    identity: Identity = Identity()
    push_auth: PushCredentials | None = Field(default=None, description="isapi: digest "
                                                                         "credentials")
    secret: Secret | None = Field(default=None, description="webhook: HMAC-SHA256 shared secret")
    command: CommandChannel | None = None
    doors: list[DoorMap] = Field(min_length=1)
    heartbeat_timeout: Seconds | None = Field(
        default=None, gt=0, le=86400, description="silence for this long: offline (default: the "
                                                  "receiver's)")
    timezone: TimeZone | None = Field(
        default=None, description="isapi: the zone of the device's clock, for a dateTime "
                                  "without an offset (default: the receiver's device_timezone)")
    simulator: SimulatorBlock = None

    @model_validator(mode="after")
    def _check(self) -> Controller:
        where = f"controller {self.id!r}"
        if self.dialect == "isapi":
            if self.secret is not None:
                raise ValueError(f"{where}: secret is for the webhook dialect; isapi uses "
                                 "push_auth (digest)")
            if self.identity.serial is not None:
                raise ValueError(f"{where}: identity.serial is for the webhook dialect; isapi "
                                 "devices are known by push_auth.username, mac and peer")
            if self.push_auth is None and self.identity.peer is None:
                raise ValueError(f"{where}: give push_auth (digest), or at least identity.peer "
                                 "for a device that cannot authenticate its pushes")
            if self.mode == "asks" and self.command is None:
                raise ValueError(f"{where}: mode asks needs command (the remoteCheck answer "
                                 "goes through the device's ISAPI)")
            if self.command is not None and self.command.password is None:
                raise ValueError(f"{where}: command.password is required for isapi")
        else:
            if self.secret is None:
                raise ValueError(f"{where}: the webhook dialect needs secret (HMAC-SHA256)")
            if self.push_auth is not None:
                raise ValueError(f"{where}: push_auth is for the isapi dialect")
            if self.identity.mac is not None:
                raise ValueError(f"{where}: identity.mac is for the isapi dialect")
        keys = [(d.door, d.reader) for d in self.doors]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{where}: a door/reader pair is listed twice")
        for door in {d.door for d in self.doors}:
            gates = {d.gate for d in self.doors if d.door == door}
            if len(gates) > 1:
                raise ValueError(f"{where}: door {door} is mapped to several gates "
                                 f"{sorted(gates)}; a door belongs to one gate")
            ids = {d.door_id for d in self.doors if d.door == door}
            if len(ids) > 1:
                raise ValueError(f"{where}: door {door} has several door_id values "
                                 f"{sorted(map(str, ids))}; give the same on each of its "
                                 "readers")
        readers = [d.reader_name for d in self.doors]
        if len(set(readers)) != len(readers):
            raise ValueError(f"{where}: reader ids must be unique: {readers}")
        return self

    @property
    def device_key(self) -> str:
        """webhook: what the X-Gate-Device header must say."""
        return self.identity.serial or self.id

    def door_for(self, door: int | None, reader: int | None) -> DoorMap | None:
        """The mapping for a credential at ``door``/``reader`` (a reader-specific one first)."""
        if door is None:
            # single-door terminals push no doorNo (and often cardReaderNo 1): their one door
            by_reader = next((d for d in self.doors if reader is not None
                              and d.reader == reader), None)
            if by_reader is not None:
                return by_reader
            return self.doors[0] if len({d.door for d in self.doors}) == 1 else None
        exact = next((d for d in self.doors if d.door == door and d.reader == reader), None)
        if exact is not None:
            return exact
        return next((d for d in self.doors if d.door == door and d.reader is None),
                    next((d for d in self.doors if d.door == door), None))


class HttpGateReceiverConfig(Strict):
    driver: Literal["http_gate"]
    id: Identifier
    name: str = ""
    listen: Listen
    tls: ReceiverTls | None = Field(default=None, description="serve HTTPS (isapi protocolType "
                                                              "HTTPS) instead of HTTP")
    max_body: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024,
                          description="bytes of event data (JSON/XML) one request may carry")
    max_request: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024,
                             description="bytes one request may carry in all, pictures included "
                                         "(they are read past and discarded)")
    heartbeat_timeout: Seconds = Field(default=120.0, gt=0, le=86400,
                                       description="no request from a controller for this "
                                                   "long: offline")
    device_timezone: TimeZone = Field(
        default="Asia/Shanghai", description="isapi: the zone of the controllers' clocks, for "
        "a dateTime without an offset (set it to the site's timezone; a controller's own "
        "timezone overrides it)")
    replay_window: Seconds = Field(default=300.0, ge=5, le=3600,
                                   description="webhook: how far a request's timestamp may be "
                                               "from ours; digest nonces live this long too")
    request_deadline: Seconds = Field(
        default=REQUEST_DEADLINE, gt=0, le=600, description="a request (headers and body, "
        "pictures included) not all arrived this long after its first byte: answered 408, its "
        "connection closed")
    connections_per_client: int = Field(
        default=CONNECTIONS_PER_CLIENT, ge=1, le=4096, description="connections one address "
        "(an IPv6 one by its /64) may hold open at once; one more is closed at once (a trusted "
        "proxy is not counted)")
    controllers: list[Controller] = Field(min_length=1)
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list, description="reverse proxies whose X-Forwarded-For is believed "
        "(addresses or networks); none by default, so no sender can claim a controller's "
        "address")

    @model_validator(mode="after")
    def _check(self) -> HttpGateReceiverConfig:
        ids = [c.id for c in self.controllers]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"controller ids must be unique: {repeated}")
        if self.id in ids:
            raise ValueError(f"controller id {self.id!r} is also the receiver's id")
        if self.max_request < self.max_body:
            raise ValueError("max_request must be at least max_body")
        users = [c.push_auth.username for c in self.controllers if c.push_auth]
        repeated = sorted({u for u in users if users.count(u) > 1})
        if repeated:
            raise ValueError(f"push_auth.username must be unique (it tells the devices apart): "
                             f"{repeated}")
        keys = [c.device_key for c in self.controllers if c.dialect == "webhook"]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"webhook device keys (identity.serial or id) must be unique: "
                             f"{repeated}")
        macs = [c.identity.mac for c in self.controllers if c.identity.mac]
        repeated = sorted({m for m in macs if macs.count(m) > 1})
        if repeated:
            raise ValueError(f"identity.mac must be unique: {repeated}")
        anonymous = [str(c.identity.peer) for c in self.controllers
                     if c.dialect == "isapi" and c.push_auth is None]
        peers = [str(c.identity.peer) for c in self.controllers
                 if c.dialect == "isapi" and c.identity.peer is not None]
        clash = sorted({p for p in anonymous if peers.count(p) > 1})
        if clash:
            raise ValueError(f"an isapi controller without push_auth is known by its peer "
                             f"alone, which another controller shares: {clash}")
        commands = [c.command.base for c in self.controllers if c.command]
        repeated = sorted({u for u in commands if commands.count(u) > 1})
        if repeated:
            raise ValueError(f"command.url must be unique: {repeated}")
        return self

    def controller(self, controller_id: str) -> Controller | None:
        return next((c for c in self.controllers if c.id == controller_id), None)

    def gates(self) -> set[str]:
        return {d.gate for c in self.controllers for d in c.doors}

    def doors(self) -> set[str]:
        return {d.door_id for c in self.controllers for d in c.doors if d.door_id}

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def endpoints(self) -> list[str]:
        endpoints = [f"http_gate listen {self.listen.host}:{self.listen.port}"]
        endpoints += [f"http_gate command {c.command.base}" for c in self.controllers
                      if c.command]
        return endpoints

    def inventory(self) -> list[dict[str, Any]]:
        """One entry per controller: the events name controllers, not the receiver."""
        return [
            {
                "id": c.id,
                "driver": self.driver,
                "name": c.name,
                "zone": c.zone or "",
                "endpoint": self.endpoints()[0],
                "dialect": c.dialect,
                "mode": c.mode,
                "gates": sorted({d.gate for d in c.doors}),
                "doors": sorted({d.door_id for d in c.doors if d.door_id}),
                "receiver": self.id,
            }
            for c in self.controllers
        ]
