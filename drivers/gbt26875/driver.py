"""The monitoring-centre side of GB/T 26875.3: a TCP server that transmission devices connect to.

Each connection gets its own ``FrameReader``; a frame is attributed to a transmitter by its
source address, never by the connection, so a device that reconnects from a new port (or a
concentrator carrying several devices) needs no special handling. Frames from one transmitter
are read only in the variant configured for it.

What the centre answers:

* a valid data frame (command 2) from a listed transmitter: its events are handed to the gateway
  and, once they are on disk, the ACK (command 3, same serial number);
* a valid frame the gateway cannot take now (the transmitter is over its rate limit: it is
  flooding): **no answer**, and nothing of it is applied; the transmitter's own retransmission
  brings it back, so nothing it reported is lost and nothing is acknowledged that was not taken;
* a retransmission (same serial number and data, because our ACK was lost): ACK again, no events;
* a frame of a listed transmitter rejected with a serial number (bad checksum, wrong variant, bad
  length, no ``##``, application data that does not add up): the deny (command 6);
* a valid frame from an address the site file does not list: the deny (the installer sees the
  refusals on the device), nothing applied;
* bytes that are no frame, or broken frames from no listed address: nothing (there is nobody to
  answer).

Denies are rate limited per connection. Warnings name the peer and the bytes, and repeated ones
are summarised (``gateway.kernel.logs.LogLimiter``), so garbage costs neither disk nor CPU to
speak of.

Connections: each must identify itself (a valid frame from a listed transmitter) within
``identify_within``, or it is closed; one IP address holds at most ``max_connections_per_peer``
that have not (yet) identified themselves (transmitters behind one NAT address are not limited
once they have); when all ``max_connections`` are taken, a newcomer replaces the oldest
connection that has not identified itself (never one that has). Connections from a
transmitter's configured ``peer`` address are never crowded out by others. A peer that sends
mostly garbage is disconnected.

Availability: a transmitter is online from its first valid frame, and offline when its
connection closes or no valid frame arrived within ``heartbeat_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import ipaddress
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

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
from drivers.gbt26875.models import TransmissionReceiverConfig, Transmitter, displayed
from drivers.gbt26875.panel_state import PanelState
from drivers.gbt26875.tables import TransmitterOperationFlag
from gateway.kernel.limits import TokenBucket
from gateway.kernel.logs import LogLimiter
from gateway.kernel.ports import ActionError, DeviceSink, DeviceUnavailable

log = logging.getLogger(__name__)

RECENT_SERIALS = 64  # per transmitter: enough for every retransmission of a burst
ACTION_TIMEOUT = 5.0  # for the device's confirm of a control command
DUTY_WAIT = 5.0  # default time execute('duty-check') waits for the person on duty
INCOMPLETE_AFTER = 3.0  # a partial frame with no more bytes for this long is given up
READ_SIZE = 65536
MAX_WRITE_BUFFER = 256 * 1024  # a peer that stopped reading is dropped
HEX_IN_LOG = 96
DENY_BURST, DENY_PER_SECOND = 10, 2.0  # denies one connection may get
GARBAGE_GRACE = 16 * 1024  # bytes of garbage a connection may send before its ratio counts
GARBAGE_RATIO = 4  # garbage bytes per valid byte beyond which the connection is closed
HOLD_PAUSE = 0.5  # after a held frame, what the connection sends goes unread for this long
HELD_READ_PAUSE = 0.01  # and is read in pieces this far apart (at most 6.4 MB/s)


class Link:
    """One TCP connection from a transmission device (or from something pretending to be one)."""

    def __init__(self, peer: str, host: str, writer: asyncio.StreamWriter, now: float,
                 expected: bool) -> None:
        self.peer = peer
        self.host = host
        self.writer = writer
        self.opened = now
        self.last_valid = now
        self.expected = expected  # from a transmitter's configured peer address
        self.identified = False
        self.held_until = 0.0  # a frame was held (flooding): answer nothing before this
        self.ended = ""  # why the gateway closed it, if it did
        self.garbage = 0
        self.valid = 0
        self.denies = TokenBucket(DENY_BURST, DENY_PER_SECOND)
        self.warned: set[bytes] = set()

    def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("%s is not reading our answers; closing the connection", self.peer)
            self.close()

    def deny(self, data: bytes) -> None:
        if self.denies.take():
            self.send(data)

    @property
    def mostly_garbage(self) -> bool:
        return self.garbage > GARBAGE_GRACE and self.garbage > GARBAGE_RATIO * self.valid

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
        self._expected_hosts = {str(t.peer) for t in config.transmitters if t.peer is not None}
        self._links: dict[Link, None] = {}  # oldest first
        self._stopping = False
        self._untyped: set[tuple[str, int]] = set()
        self._warnings = LogLimiter(log)

    def _believed(self, transmitter_id: str) -> Callable[[], AbstractSet[str]]:
        """What the gateway holds active for a transmitter (open alarms), for first reports."""
        return lambda: self._sink.active_conditions(transmitter_id)

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        listen = self.config.listen
        self._stopping = False
        try:
            server = await asyncio.start_server(self._accept, listen.host, listen.port)
        except OSError as exc:
            reason = f"cannot listen on {listen.host}:{listen.port}: {exc.strerror or exc}"
            for session in self._sessions.values():  # their fire path is down: say so
                self._sink.availability(session.config.id, False, reason)
            raise DeviceUnavailable(reason) from None
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
        peer, host = _peer(writer)
        link = Link(peer, host, writer, asyncio.get_running_loop().time(),
                    host in self._expected_hosts)
        refusal = self._make_room(link)
        if refusal:
            self._warnings.warning(("refused", host), "%s: refusing %s: %s", self.device_id,
                                   peer, refusal)
            writer.close()
            return
        self._links[link] = None
        log.debug("%s: connection from %s", self.device_id, peer)
        reason = "connection closed"
        try:
            reason = await self._read(link, reader)
        except Exception:
            log.exception("%s: connection from %s failed", self.device_id, peer)
            reason = "connection failed"
        finally:
            self._links.pop(link, None)
            link.close()
            self._closed(link, reason)

    def _make_room(self, newcomer: Link) -> str:
        """Close what must go for ``newcomer`` to fit; the reason if it cannot be let in.

        Only connections that have not identified themselves are ever closed for a newcomer,
        the oldest first, and never an expected one (from a configured ``peer``) to let in an
        unexpected one, for which a slot per expected peer not connected stays free.
        """
        waiting = [link for link in self._links
                   if link.host == newcomer.host and not link.identified]
        if len(waiting) >= self.config.max_connections_per_peer:
            self._evict(waiting[0], f"{newcomer.host} opened one more connection that has "
                        "not identified itself (max_connections_per_peer)")
        connected = {link.host for link in self._links if link.expected}
        free_reserved = 0 if newcomer.expected else len(self._expected_hosts - connected)
        if len(self._links) < self.config.max_connections - free_reserved:
            return ""
        victims = [link for link in self._links if not link.identified and not link.expected]
        if newcomer.expected and not victims:
            victims = [link for link in self._links if not link.identified]
        if not victims:
            return (f"all {len(self._links)} connections are taken by transmitters that have "
                    "identified themselves" + ("" if newcomer.expected else " or are reserved"))
        self._evict(victims[0], "all connections taken; this one had not identified itself")
        return ""

    def _evict(self, link: Link, why: str) -> None:
        self._warnings.info(("evicted", link.host), "%s: closing %s: %s", self.device_id,
                            link.peer, why)
        link.ended = why
        self._links.pop(link, None)
        link.close()

    async def _read(self, link: Link, reader: asyncio.StreamReader) -> str:
        frames = FrameReader(self._variant_for)
        loop = asyncio.get_running_loop()
        timeout = self.config.heartbeat_timeout
        while True:
            if link.identified:
                left = link.last_valid + timeout - loop.time()
                idle = f"no valid frame for {timeout:g} s"
            else:
                left = link.opened + self.config.identify_within - loop.time()
                idle = (f"no valid frame from a listed transmitter within "
                        f"{self.config.identify_within:g} s")
            if left <= 0:
                return idle
            wait = min(left, INCOMPLETE_AFTER) if frames.pending else left
            try:
                async with asyncio.timeout(wait):  # no task per read, unlike wait_for
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                if frames.pending:
                    await self._handle_all(link, frames.flush())
                continue
            except OSError as exc:
                return f"connection lost: {exc}"
            if not data:
                return link.ended or "closed by the device"
            if loop.time() < link.held_until:
                # flooding: what it sends meanwhile goes unanswered, so it is not even parsed
                # (the device sends it again), and it is read slowly (TCP pushes back); the
                # next frame is read from a clean start
                frames = FrameReader(self._variant_for)
                await asyncio.sleep(HELD_READ_PAUSE)
                continue
            await self._handle_all(link, frames.feed(data))
            if link.mostly_garbage:
                return (f"mostly garbage: {link.garbage} bytes that are no valid frame, "
                        f"{link.valid} that are")
            if link.writer.is_closing():
                return "closed by the gateway"

    def _closed(self, link: Link, reason: str) -> None:
        if link.identified or "garbage" in reason:
            self._warnings.log(logging.INFO, ("ended", link.host, reason.split(":")[0]),
                               "%s: connection from %s ended: %s", self.device_id, link.peer,
                               reason)
        else:
            log.debug("%s: connection from %s ended: %s", self.device_id, link.peer, reason)
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

    async def _handle_all(self, link: Link, items: Iterable[Frame | Rejected]) -> None:
        for item in items:
            try:
                if isinstance(item, Rejected):
                    link.garbage += len(item.raw)
                    self._rejected(link, item)
                else:
                    await self._frame(link, item)
            except Exception:
                log.exception("%s: could not handle a frame from %s; continuing",
                              self.device_id, link.peer)

    def _rejected(self, link: Link, rejected: Rejected) -> None:
        transmitter = self._by_address.get(rejected.source) if rejected.source else None
        who = f"{transmitter.id} at {link.peer}" if transmitter else link.peer
        source = transmitter.id if transmitter else link.host
        self._warnings.warning(("rejected", source, rejected.kind), "%s: rejected %d bytes"
                               " from %s: %s; bytes: %s", self.device_id, len(rejected.raw),
                               who, rejected.reason, _hex(rejected.raw))
        if transmitter is None:
            return  # no listed transmitter to answer: noise, or a stranger's broken frame
        deny = deny_rejected(rejected, self.config.centre, self._now())
        if deny is not None:
            link.deny(encode_frame(deny, self._sessions[transmitter.id].variant))

    async def _frame(self, link: Link, frame: Frame) -> None:
        transmitter = self._by_address.get(frame.source)
        if transmitter is None:
            link.garbage += len(frame.app_data) + 30
            self._unknown(link, frame)
            return
        link.valid += len(frame.app_data) + 30
        session = self._sessions[transmitter.id]
        self._seen(session, link, frame)
        if frame.command == Command.SEND_DATA:
            await self._data(session, link, frame)
        elif frame.command in (Command.CONFIRM, Command.DENY, Command.RESPONSE):
            await self._reply(session, link, frame)
        else:
            log.info("%s: %s sent command %d, which a centre does not serve; denied",
                     self.device_id, transmitter.id, frame.command)
            link.deny(encode_frame(deny_for(frame, self._now()), session.variant))

    def _unknown(self, link: Link, frame: Frame) -> None:
        address = f"{displayed(frame.source)} (wire order {frame.source.hex().upper()})"
        if frame.source not in link.warned and len(link.warned) < 16:
            link.warned.add(frame.source)
            self._warnings.warning(
                ("unknown", link.host, frame.source), "%s: frame from unknown transmitter "
                "address %s at %s, denied; add it to the transmitters of the site file or "
                "correct the device's address", self.device_id, address, link.peer)
        if frame.command not in (Command.CONFIRM, Command.DENY):
            link.deny(encode_frame(deny_for(frame, self._now()), STANDARD))

    def _seen(self, session: TransmitterSession, link: Link, frame: Frame) -> None:
        now = asyncio.get_running_loop().time()
        link.last_valid = session.last_valid = now
        link.identified = True
        session.version = frame.version
        if session.link is not link:
            if session.link is not None:
                log.info("%s: %s moved from %s to %s", self.device_id, session.config.id,
                         session.link.peer, link.peer)
            session.link = link
        if not session.online:
            session.online = True
            self._sink.availability(session.config.id, True, f"frames arriving from {link.peer}")

    async def _data(self, session: TransmitterSession, link: Link, frame: Frame) -> None:
        key = (frame.serial, frame.app_data)
        if asyncio.get_running_loop().time() < link.held_until:
            return  # flooding: unanswered and unread, like the frame held before it
        if key in session.recent:
            self._warnings.info(("repeated", session.config.id), "%s: %s repeated frame %d (our"
                                " answer was lost); acknowledged again", self.device_id,
                                session.config.id, frame.serial)
        else:
            if frame.app_data and not await self._apply(session, link, frame):
                return
            session.recent.append(key)
        link.send(encode_frame(ack_for(frame, self._now()), session.variant))

    async def _apply(self, session: TransmitterSession, link: Link, frame: Frame) -> bool:
        """Hand a frame's events to the gateway; True once they are on disk.

        False: the frame was denied (it does not decode) or held (the transmitter is flooding:
        no answer, nothing applied, the transmitter sends it again).
        """
        try:
            data = decode_units(frame.app_data, session.variant)
        except CodecError as exc:
            self._warnings.warning(("undecodable", session.config.id), "%s: denied frame %d"
                                   " from %s at %s: %s; application data: %s", self.device_id,
                                   frame.serial, session.config.id, link.peer, exc,
                                   _hex(frame.app_data))
            link.deny(encode_frame(deny_for(frame, self._now()), session.variant))
            return False
        if not data.decoded and (session.config.id, data.type) not in self._untyped:
            self._untyped.add((session.config.id, data.type))
            log.info("%s: %s sends application data type %d, which is acknowledged but not"
                     " turned into events", self.device_id, session.config.id, data.type)
        evaluation = session.panel.evaluate(data.objects)
        # the frame's identity: a retransmission after a restart makes no second event either
        reading = f"{frame.serial}:{hashlib.blake2b(frame.app_data, digest_size=8).hexdigest()}"
        events = [dataclasses.replace(event, reading=reading) for event in evaluation.events]
        if not self._sink.report(events):
            # While it floods, frames are not even decoded for a moment: a flood costs little.
            link.held_until = asyncio.get_running_loop().time() + HOLD_PAUSE
            self._warnings.warning(("held", session.config.id), "%s: %s is flooding: frame %d"
                                   " (%d events) not answered; the device will send it again",
                                   self.device_id, session.config.id, frame.serial,
                                   len(evaluation.events))
            return False
        evaluation.commit()
        self._answer_duty_checks(session, data.objects)
        await self._sink.accepted()
        return True

    async def _reply(self, session: TransmitterSession, link: Link, frame: Frame) -> None:
        if frame.command == Command.RESPONSE and frame.app_data:
            await self._apply(session, link, frame)
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


def _peer(writer: asyncio.StreamWriter) -> tuple[str, str]:
    """``host:port`` for the log, and the host alone (normalised) for per-peer accounting."""
    name = writer.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        host = str(name[0])
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(host)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            host = str(address)
        shown = f"[{host}]" if ":" in host else host
        return f"{shown}:{name[1]}", host
    return str(name or "unknown peer"), str(name or "unknown")


def _hex(raw: bytes) -> str:
    text = raw[:HEX_IN_LOG].hex(" ")
    return text if len(raw) <= HEX_IN_LOG else f"{text} ... ({len(raw)} bytes)"
