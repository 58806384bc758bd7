"""A simulated IP alarm receiver of an alarm receiving centre, speaking SIA DC-09.

It does what the standard asks of a receiver, whoever the transmitter is: every block is
answered on its own (TCP: on the connection it came on; UDP: to the datagram's sender).
A block with a bad CRC, a bad length or no DC-09 shape is NAKed; so is an encrypted one that
does not decrypt with the account's key, or whose timestamp is missing or outside the window
(+20 s / -40 s of the receiver's clock). Every NAK carries the receiver's time. An account it
does not know, plain text for an account with a key, and data it cannot read are answered DUH.
What it takes is ACKed (encrypted when the message was, with the receiver's time), and a
repeat of a message it already took (same account, sequence number and data: a transmitter
that missed the ACK) is ACKed again but not counted twice.

Actions (``campus-sim act <receiver> ...``): ``silent`` (read, never answer), ``slow
delay=S`` (answer S seconds late), ``down`` (refuse connections), ``normal``, ``forget`` /
``know`` (the school's account unknown / known again), ``clock offset=S`` (the receiver's
clock S seconds off), ``clear`` (forget what was received).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.alarm_centre import dc09
from gateway.alarm_centre.config import AlarmCentre, Receiver
from gateway.alarm_centre.dc09 import Block, BlockError
from gateway.alarm_centre.reports import heard
from simulators.simulator import NoArgs, StartError, UnknownAction, parse_arguments

log = logging.getLogger(__name__)

KEPT = 500  # messages shown in the state, newest last
MESSAGES = ("SIA-DCS", "ADM-CID", "NULL")
Mode = Literal["normal", "silent", "slow", "down"]


class SlowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delay: float = Field(default=2.0, ge=0, le=600)


class ClockArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offset: float = Field(default=0.0, ge=-86400 * 366, le=86400 * 366)


_ARGS: dict[str, type[BaseModel]] = {
    "silent": NoArgs, "slow": SlowArgs, "down": NoArgs, "normal": NoArgs, "forget": NoArgs,
    "know": NoArgs, "clock": ClockArgs, "clear": NoArgs,
}
ACTIONS = tuple(_ARGS)


class ReceiverSimulator:
    driver = "alarm_centre"
    actions: Sequence[str] = ACTIONS

    def __init__(self, name: str, receiver: Receiver, accounts: Mapping[str, bytes | None]
                 ) -> None:
        self.device_id = name
        self.receiver = receiver
        self.accounts = dict(accounts)
        self._known = dict(accounts)
        self.mode: Mode = "normal"
        self.delay = 0.0
        self.clock_offset = 0.0
        self.received: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self.counts = {"taken": 0, "null": 0, "duplicates": 0, "nak": 0, "duh": 0,
                       "unanswered": 0}
        self._seen: deque[tuple[str, int, str, str]] = deque(maxlen=KEPT)
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- the device as the campus sees it ------------------------------------------------

    @property
    def address(self) -> str:
        return self.receiver.url

    @property
    def online(self) -> bool:
        return self.mode != "down"

    def summary(self) -> str:
        accounts = ", ".join(f"{a}{' (AES)' if k else ''}" for a, k in self.accounts.items())
        return f"DC-09 receiver, accounts {accounts}"

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        model = _ARGS.get(action)
        if model is None:
            raise UnknownAction(f"{self.device_id}: unknown action {action!r} "
                                f"(known: {', '.join(ACTIONS)})")
        parsed = parse_arguments(model, f"{self.device_id} {action}", args)
        if action == "down":
            self.mode = "down"
            await self._close()
        elif action in ("normal", "silent", "slow"):
            if self.mode == "down":
                await self._open()
            self.mode = action  # type: ignore[assignment]
            self.delay = parsed.delay if isinstance(parsed, SlowArgs) else 0.0
        elif action == "forget":
            self.accounts = {}
        elif action == "know":
            self.accounts = dict(self._known)
        elif isinstance(parsed, ClockArgs):
            self.clock_offset = parsed.offset
        elif action == "clear":
            self.received.clear()
            self.counts = dict.fromkeys(self.counts, 0)

    async def state(self) -> dict[str, Any]:
        return {"id": self.device_id, "driver": self.driver, "address": self.address,
                "online": self.online, "actions": list(self.actions), "mode": self.mode,
                "delay": self.delay, "clock_offset": self.clock_offset,
                "accounts": sorted(self.accounts), "counts": dict(self.counts),
                "received": list(self.received)}

    def events(self) -> list[dict[str, Any]]:
        """What it took, link tests (NULL) left out: what the centre's operators would see."""
        return [r for r in self.received if r["id"] != "NULL"]

    # -- the wire -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._open()

    async def stop(self) -> None:
        await self._close()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.receiver.host, self.receiver.port
        try:
            if self.receiver.transport == "tcp":
                self._tcp = await asyncio.start_server(self._serve, host, port,
                                                       reuse_address=True)
            else:
                self._udp, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self), local_addr=(host, port))
        except OSError as exc:
            raise StartError(f"{self.device_id}: cannot listen on {self.address}: "
                             f"{exc.strerror or exc}") from exc

    async def _close(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._writers):
                writer.close()
            await self._tcp.wait_closed()
            self._tcp = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\r")
                except asyncio.LimitOverrunError:
                    raw = await reader.read(dc09.MAX_BLOCK * 2)  # answered NAK, as too long
                answer = self.take(raw)
                if answer is not None:
                    await self._after_delay()
                    if self.mode in ("normal", "slow"):
                        writer.write(answer)
                        await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _after_delay(self) -> None:
        if self.mode == "slow" and self.delay:
            await asyncio.sleep(self.delay)

    def answer_datagram(self, raw: bytes, to: Any) -> None:
        answer = self.take(raw)
        if answer is None:
            return

        async def send() -> None:
            await self._after_delay()
            if self._udp is not None and self.mode in ("normal", "slow"):
                self._udp.sendto(answer, to)

        asyncio.get_running_loop().create_task(send())

    # -- the receiver's rules -------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset)

    def take(self, raw: bytes) -> bytes | None:
        """The answer to one block (None while silent: it was read, never answered)."""
        if self.mode == "silent":
            self.counts["unanswered"] += 1
            return None
        now = self.now()
        try:
            block = dc09.decode(raw, keys=self.accounts)
        except BlockError as exc:
            if exc.header is not None:  # an account it does not know
                return self._duh_to(exc.header, str(exc))
            return self._nak(now, f"{exc.part}: {exc}")
        key = self.accounts.get(block.account)
        if key is not None and not block.encrypted:
            return self._duh_to(block, f"account {block.account} sends encrypted only")
        if block.encrypted and (block.time is None or not dc09.in_window(block, now)):
            return self._nak(now, f"timestamp {block.time} outside the window of {now}")
        if block.id not in MESSAGES:
            return self._duh_to(block, f"{block.id} is not a message a receiver takes")
        event = heard(block.id, block.data) if block.id != "NULL" else None
        if block.id != "NULL" and event is None:
            return self._duh_to(block, f"data {block.data!r} is not {block.id}")
        identity = (block.account, block.sequence, block.id, block.data)
        duplicate = block.id != "NULL" and identity in self._seen
        if block.id == "NULL":
            self.counts["null"] += 1
        elif duplicate:
            self.counts["duplicates"] += 1
        else:
            self._seen.append(identity)
            self.counts["taken"] += 1
        self.received.append({
            "id": block.id, "sequence": block.sequence, "account": block.account,
            "receiver": block.receiver, "line": block.line, "data": block.data,
            "encrypted": block.encrypted, "code": event.code if event else None,
            "zone": event.zone if event else None, "group": event.group if event else None,
            "text": event.text if event else "", "duplicate": duplicate,
            "time": block.time.isoformat() if block.time else None,
            "received_at": now.isoformat()})
        return dc09.encode(dc09.ack(block, now), key if block.encrypted else None)

    def _nak(self, now: datetime, why: str) -> bytes:
        self.counts["nak"] += 1
        log.info("%s: NAK: %s", self.device_id, why)
        return dc09.encode(dc09.nak(now))

    def _duh_to(self, block: Block, why: str) -> bytes:
        self.counts["duh"] += 1
        log.info("%s: DUH: %s", self.device_id, why)
        return dc09.encode(dc09.duh(block))


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: ReceiverSimulator) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.receiver.answer_datagram(data[:dc09.MAX_BLOCK * 2], addr)


class AlarmCentreSimulators:
    """The ``alarm_centre`` family: one receiver per entry of the site's ``alarm_centre``."""

    def __init__(self, configs: Sequence[AlarmCentre]) -> None:
        self._devices: list[ReceiverSimulator] = []
        for centre in configs:
            key = dc09.aes_key(centre.key.read()) if centre.key is not None else None
            for name, receiver in zip(centre.receiver_names(), centre.receivers, strict=True):
                self._devices.append(ReceiverSimulator(name, receiver, {centre.account: key}))

    @property
    def devices(self) -> Sequence[ReceiverSimulator]:
        return self._devices

    async def start(self) -> None:
        for device in self._devices:
            await device.start()

    async def stop(self) -> None:
        for device in reversed(self._devices):
            await device.stop()
