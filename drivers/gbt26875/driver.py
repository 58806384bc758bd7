"""The monitoring-centre side of GB/T 26875.3: a TCP server that transmission devices connect to.

Each connection gets its own ``FrameReader``; a frame is attributed to a transmitter by its
source address, never by the connection, so a device that reconnects from a new port (or a
concentrator carrying several devices) needs no special handling. Frames from one transmitter
are read only in the variant configured for it.

What the centre answers:

* a valid data frame (command 2): events first, then the ACK (command 3, same serial number);
* a retransmission (same serial number and data, because our ACK was lost): ACK again, no events;
* anything rejected with a serial number (bad checksum, wrong variant, bad length, no ``##``,
  application data that does not add up): the deny (command 6) and a warning naming the peer
  and the bytes in hex; noise without a frame header is only logged (there is no serial to deny);
* a frame from an address the site file does not list: the deny, and one warning per connection.
  The connection is kept, so the device's own log shows the refusals, until ``heartbeat_timeout``
  passes with no frame from a known transmitter; then it is closed like any idle connection.

Availability: a transmitter is online from its first valid frame, and offline when its
connection closes or no valid frame arrived within ``heartbeat_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from drivers.driver import ActionError, DeviceSink
from drivers.gbt26875.codec import (
    PROTOCOL_VERSION,
    STANDARD,
    ClockSync,
    CodecError,
    Command,
    DutyCheck,
    Frame,
    FrameReader,
    Rejected,
    TransmitterOperation,
    Unit,
    Variant,
    ack_for,
    decode_units,
    deny_for,
    deny_rejected,
    encode_frame,
    encode_units,
)
from drivers.gbt26875.models import TransmissionReceiverConfig, Transmitter
from drivers.gbt26875.panel_state import PanelState
from drivers.gbt26875.tables import TransmitterOperationFlag

log = logging.getLogger(__name__)

RECENT_SERIALS = 64  # per transmitter: enough for every retransmission of a burst
ACTION_TIMEOUT = 5.0  # for the device's confirm of a control command
DUTY_WAIT = 5.0  # default time execute('duty-check') waits for the person on duty
INCOMPLETE_AFTER = 3.0  # a partial frame with no more bytes for this long is given up
READ_SIZE = 4096
MAX_WRITE_BUFFER = 256 * 1024  # a peer that stopped reading is dropped
HEX_IN_LOG = 96


class Link:
    """One TCP connection from a transmission device."""

    def __init__(self, peer: str, writer: asyncio.StreamWriter, now: float) -> None:
        self.peer = peer
        self.writer = writer
        self.last_valid = now
        self.warned: set[bytes] = set()

    def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("%s is not reading our answers; closing the connection", self.peer)
            self.close()

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


@dataclass
class TransmitterSession:
    """What the receiver keeps about one transmitter across its connections."""

    config: Transmitter
    variant: Variant
    panel: PanelState
    link: Link | None = None
    online: bool = False
    last_valid: float = 0.0
    version: tuple[int, int] = PROTOCOL_VERSION
    recent: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=RECENT_SERIALS))
    serial: int = 0
    pending: dict[int, asyncio.Future[Frame]] = field(default_factory=dict)
    duty_waiters: list[asyncio.Future[TransmitterOperation]] = field(default_factory=list)

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial


class TransmissionReceiver:
    def __init__(self, config: TransmissionReceiverConfig, sink: DeviceSink) -> None:
        self.config = config
        self.device_id = config.id
        self._sink = sink
        self._tz = config.timezone
        self._by_address = {t.wire_address: t for t in config.transmitters}
        self._sessions = {
            t.id: TransmitterSession(t, t.variant.codec(),
                                     PanelState(t, self._tz, self._believed(t.id)))
            for t in config.transmitters
        }
        self._links: set[Link] = set()
        self._stopping = False
        self._untyped: set[tuple[str, int]] = set()

    def _believed(self, transmitter_id: str) -> Callable[[], AbstractSet[str]]:
        """What the gateway holds active for a transmitter (open alarms), for first reports."""
        return lambda: self._sink.active_conditions(transmitter_id)

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        listen = self.config.listen
        self._stopping = False
        server = await asyncio.start_server(self._accept, listen.host, listen.port)
        log.info("%s: listening for GB/T 26875.3 transmission devices on %s:%d",
                 self.device_id, listen.host, listen.port)
        try:
            await self._watch_heartbeats()
        finally:
            self._stopping = True
            server.close()
            for link in list(self._links):
                link.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    async def _watch_heartbeats(self) -> None:
        timeout = self.config.heartbeat_timeout
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            for session in self._sessions.values():
                if session.online and loop.time() - session.last_valid > timeout:
                    self._offline(session, f"no valid frame for {timeout:g} s")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        if len(self._links) >= self.config.max_connections:
            log.warning("%s: refusing %s: already %d connections", self.device_id, peer,
                        len(self._links))
            writer.close()
            return
        link = Link(peer, writer, asyncio.get_running_loop().time())
        self._links.add(link)
        log.info("%s: connection from %s", self.device_id, peer)
        reason = "connection closed"
        try:
            reason = await self._read(link, reader)
        except Exception:
            log.exception("%s: connection from %s failed", self.device_id, peer)
            reason = "connection failed"
        finally:
            self._links.discard(link)
            link.close()
            self._closed(link, reason)

    async def _read(self, link: Link, reader: asyncio.StreamReader) -> str:
        frames = FrameReader(self._variant_for)
        loop = asyncio.get_running_loop()
        timeout = self.config.heartbeat_timeout
        while True:
            idle_left = link.last_valid + timeout - loop.time()
            if idle_left <= 0:
                return f"no valid frame for {timeout:g} s"
            wait = min(idle_left, INCOMPLETE_AFTER) if frames.pending else idle_left
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), wait)
            except TimeoutError:
                if frames.pending:
                    self._handle_all(link, frames.flush())
                continue
            except OSError as exc:
                return f"connection lost: {exc}"
            if not data:
                return "closed by the device"
            self._handle_all(link, frames.feed(data))

    def _closed(self, link: Link, reason: str) -> None:
        log.info("%s: connection from %s ended: %s", self.device_id, link.peer, reason)
        for session in self._sessions.values():
            if session.link is not link:
                continue
            session.link = None
            for future in session.pending.values():
                if not future.done():
                    future.set_exception(ActionError("the connection closed"))
            if not self._stopping:
                self._offline(session, f"{reason} ({link.peer})")

    def _offline(self, session: TransmitterSession, reason: str) -> None:
        if session.online:
            session.online = False
            self._sink.availability(session.config.id, False, reason)

    # --- frames -------------------------------------------------------------------------------

    def _variant_for(self, source: bytes) -> Variant:
        transmitter = self._by_address.get(source)
        return self._sessions[transmitter.id].variant if transmitter else STANDARD

    def _handle_all(self, link: Link, items: Iterable[Frame | Rejected]) -> None:
        for item in items:
            try:
                if isinstance(item, Rejected):
                    self._rejected(link, item)
                else:
                    self._frame(link, item)
            except Exception:
                log.exception("%s: could not handle a frame from %s; continuing",
                              self.device_id, link.peer)

    def _rejected(self, link: Link, rejected: Rejected) -> None:
        transmitter = self._by_address.get(rejected.source) if rejected.source else None
        who = f"{transmitter.id} at {link.peer}" if transmitter else link.peer
        log.warning("%s: rejected %d bytes from %s: %s; bytes: %s", self.device_id,
                    len(rejected.raw), who, rejected.reason, _hex(rejected.raw))
        deny = deny_rejected(rejected, self.config.centre, self._now())
        if deny is not None:
            variant = self._sessions[transmitter.id].variant if transmitter else STANDARD
            link.send(encode_frame(deny, variant))

    def _frame(self, link: Link, frame: Frame) -> None:
        transmitter = self._by_address.get(frame.source)
        if transmitter is None:
            self._unknown(link, frame)
            return
        session = self._sessions[transmitter.id]
        self._seen(session, link, frame)
        if frame.command == Command.SEND_DATA:
            self._data(session, link, frame)
        elif frame.command in (Command.CONFIRM, Command.DENY, Command.RESPONSE):
            self._reply(session, link, frame)
        else:
            log.info("%s: %s sent command %d, which a centre does not serve; denied",
                     self.device_id, transmitter.id, frame.command)
            link.send(encode_frame(deny_for(frame, self._now()), session.variant))

    def _unknown(self, link: Link, frame: Frame) -> None:
        address = frame.source.hex().upper()
        if frame.source not in link.warned:
            link.warned.add(frame.source)
            log.warning("%s: frame from unknown transmitter address %s at %s, denied; add it to"
                        " the transmitters of the site file or correct the device's address",
                        self.device_id, address, link.peer)
        if frame.command not in (Command.CONFIRM, Command.DENY):
            link.send(encode_frame(deny_for(frame, self._now()), STANDARD))

    def _seen(self, session: TransmitterSession, link: Link, frame: Frame) -> None:
        now = asyncio.get_running_loop().time()
        link.last_valid = session.last_valid = now
        session.version = frame.version
        if session.link is not link:
            if session.link is not None:
                log.info("%s: %s moved from %s to %s", self.device_id, session.config.id,
                         session.link.peer, link.peer)
            session.link = link
        if not session.online:
            session.online = True
            self._sink.availability(session.config.id, True, f"frames arriving from {link.peer}")

    def _data(self, session: TransmitterSession, link: Link, frame: Frame) -> None:
        key = (frame.serial, frame.app_data)
        if key in session.recent:
            log.info("%s: %s repeated frame %d (our answer was lost); acknowledged again",
                     self.device_id, session.config.id, frame.serial)
        else:
            if frame.app_data and not self._apply(session, link, frame):
                return
            session.recent.append(key)
        link.send(encode_frame(ack_for(frame, self._now()), session.variant))

    def _apply(self, session: TransmitterSession, link: Link, frame: Frame) -> bool:
        """Emit the events of a frame's application data; False (and denied) if it is invalid."""
        try:
            data = decode_units(frame.app_data, session.variant)
        except CodecError as exc:
            log.warning("%s: denied frame %d from %s at %s: %s; application data: %s",
                        self.device_id, frame.serial, session.config.id, link.peer, exc,
                        _hex(frame.app_data))
            link.send(encode_frame(deny_for(frame, self._now()), session.variant))
            return False
        if not data.decoded and (session.config.id, data.type) not in self._untyped:
            self._untyped.add((session.config.id, data.type))
            log.info("%s: %s sends application data type %d, which is acknowledged but not"
                     " turned into events", self.device_id, session.config.id, data.type)
        for event in session.panel.apply(data.objects):
            self._sink.emit(event)
        self._answer_duty_checks(session, data.objects)
        return True

    def _reply(self, session: TransmitterSession, link: Link, frame: Frame) -> None:
        if frame.command == Command.RESPONSE and frame.app_data:
            self._apply(session, link, frame)
        future = session.pending.pop(frame.serial, None)
        if future is not None and not future.done():
            future.set_result(frame)

    def _answer_duty_checks(self, session: TransmitterSession, objects: Iterable[Unit]) -> None:
        for unit in objects:
            if (isinstance(unit, TransmitterOperation)
                    and unit.flags & TransmitterOperationFlag.DUTY_ANSWERED):
                for waiter in session.duty_waiters:
                    if not waiter.done():
                        waiter.set_result(unit)

    # --- actions ------------------------------------------------------------------------------

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if action == "clock-sync":
            return await self._clock_sync(self._target(args))
        if action == "duty-check":
            return await self._duty_check(self._target(args), args)
        raise ActionError(
            f"{self.device_id}: unknown action {action!r} (known: clock-sync, duty-check)"
        )

    def _target(self, args: Mapping[str, Any]) -> TransmitterSession:
        name = args.get("transmitter")
        if name is None and len(self._sessions) == 1:
            return next(iter(self._sessions.values()))
        session = self._sessions.get(str(name))
        if session is None:
            known = ", ".join(self._sessions)
            raise ActionError(f"{self.device_id}: no transmitter {name!r} (transmitters: {known})")
        return session

    async def _clock_sync(self, session: TransmitterSession) -> dict[str, Any]:
        now = self._now()
        reply, error = await self._control(session, ClockSync(now))
        return {"transmitter": session.config.id, "action": "clock-sync",
                "time": now.isoformat(), **_outcome(reply, error)}

    async def _duty_check(self, session: TransmitterSession,
                          args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            wait = min(max(float(args.get("wait", DUTY_WAIT)), 0.0), 600.0)
            minutes = min(max(int(args.get("answer_minutes", 1)), 1), 255)
        except (TypeError, ValueError):
            raise ActionError(f"{self.device_id}: wait and answer_minutes are numbers") from None
        waiter: asyncio.Future[TransmitterOperation] = asyncio.get_running_loop().create_future()
        session.duty_waiters.append(waiter)
        try:
            reply, error = await self._control(session, DutyCheck(minutes))
            result: dict[str, Any] = {"transmitter": session.config.id, "action": "duty-check",
                                      **_outcome(reply, error), "answered": False,
                                      "operator": "", "answered_at": None}
            if result["confirmed"]:
                try:
                    answer = await asyncio.wait_for(waiter, wait)
                except TimeoutError:
                    result["error"] = f"nobody answered within {wait:g} s"
                else:
                    result.update(answered=True, operator=str(answer.operator),
                                  answered_at=_iso(answer.time, self._tz))
            return result
        finally:
            session.duty_waiters.remove(waiter)

    async def _control(self, session: TransmitterSession, unit: Unit) -> tuple[Frame | None, str]:
        """Send one control command and wait for the device's confirm or deny."""
        link = session.link
        if link is None:
            return None, f"{session.config.id} is not connected"
        serial = session.next_serial()
        frame = Frame(serial, Command.CONTROL, source=self.config.centre,
                      destination=session.config.wire_address,
                      app_data=encode_units([unit], session.variant), time=self._now(),
                      version=session.version)
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        session.pending[serial] = future
        try:
            link.send(encode_frame(frame, session.variant))
            return await asyncio.wait_for(future, ACTION_TIMEOUT), ""
        except TimeoutError:
            return None, f"no answer within {ACTION_TIMEOUT:g} s"
        except ActionError as exc:
            return None, str(exc)
        finally:
            session.pending.pop(serial, None)

    def _now(self) -> datetime:
        return datetime.now(self._tz)


def _outcome(reply: Frame | None, error: str) -> dict[str, Any]:
    if reply is not None and reply.command == Command.DENY:
        error = "the device denied the command"
    confirmed = reply is not None and reply.command == Command.CONFIRM
    return {"confirmed": confirmed, "error": error}


def _iso(time: datetime | None, tz: tzinfo) -> str | None:
    return time.replace(tzinfo=tz).isoformat() if time is not None else None


def _peer(writer: asyncio.StreamWriter) -> str:
    name = writer.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        host = f"[{name[0]}]" if ":" in str(name[0]) else str(name[0])
        return f"{host}:{name[1]}"
    return str(name or "unknown peer")


def _hex(raw: bytes) -> str:
    text = raw[:HEX_IN_LOG].hex(" ")
    return text if len(raw) <= HEX_IN_LOG else f"{text} ... ({len(raw)} bytes)"
