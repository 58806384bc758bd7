"""A simulated user information transmission device: the client side of GB/T 26875.3.

It connects to the monitoring centre (the gateway's receiver), keeps a model of the fire panel's
components and their status bits, and reports every change as a data frame. Frames go out one at
a time and each waits for the centre's ACK with the same serial number; with no ACK it sends the
same bytes again (the standard's retransmission), and after ``tries`` unanswered attempts it
drops the connection and reconnects, the frame still first in line, so nothing reported is lost.
When idle it sends its own status (type 21) as a heartbeat.

It misbehaves on demand, for the abuse tests: ``flood`` (frames without waiting for answers),
``send_malformed`` (bad frames), ``set_clock`` (a clock years off, stuck, or never set),
``repeat`` (one reading sent again and again, as if every ACK were lost), ``hang`` (connected
but silent) and ``dribble`` (every frame a byte at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drivers.gbt26875.codec import (
    ClockSync,
    CodecError,
    Command,
    ComponentStatus,
    DutyCheck,
    Frame,
    FrameReader,
    OperationRecord,
    SystemStatus,
    TransmitterOperation,
    TransmitterStatus,
    Unit,
    Variant,
    decode_units,
    encode_frame,
    encode_units,
    reply_to,
)
from drivers.gbt26875.models import TransmissionReceiverConfig, Transmitter
from drivers.gbt26875.tables import (
    COMPONENT_BIT_NAMES,
    ComponentBit,
    OperationFlag,
    SystemBit,
    TransmitterBit,
    TransmitterOperationFlag,
    bit_names,
    component_type_name,
)
from simulators.gbt26875.malformed import MalformedKind, malformed_frame
from simulators.simulator import SimulatorError

log = logging.getLogger(__name__)

CONDITION_BITS: dict[str, int] = {
    "fire": ComponentBit.FIRE,
    "fault": ComponentBit.FAULT,
    "shielded": ComponentBit.SHIELDED,
    "supervisory": ComponentBit.SUPERVISORY,
    "power_fault": ComponentBit.POWER_FAULT,
}
ABNORMAL = 0xFFFF & ~int(ComponentBit.NORMAL)  # every bit but "normal operation"
SMOKE_DETECTOR = 40


@dataclass
class SimComponent:
    system_type: int
    system_address: int
    component_address: int
    component_type: int = SMOKE_DETECTOR
    description: str = ""
    status: int = ComponentBit.NORMAL

    def unit(self, time: datetime | None) -> ComponentStatus:
        return ComponentStatus(self.system_type, self.system_address, self.component_type,
                               self.component_address, self.status, self.description, time)

    def view(self) -> dict[str, Any]:
        return {
            "system_type": self.system_type,
            "system_address": self.system_address,
            "component_address": self.component_address,
            "component_type": component_type_name(self.component_type),
            "description": self.description,
            "status": self.status,
            "conditions": [n for n in bit_names(self.status, COMPONENT_BIT_NAMES) if n != "normal"],
        }


@dataclass
class Counters:
    sent: int = 0
    acked: int = 0
    denied: int = 0
    retransmitted: int = 0
    malformed: int = 0
    connects: int = 0
    clock_syncs: int = 0
    duty_checks: int = 0
    flooded: int = 0


@dataclass
class Outgoing:
    serial: int
    raw: bytes
    attempts: int = 0


class TransmissionDeviceSimulator:
    """One transmitter of the site file, connecting to the receiver that lists it."""

    def __init__(self, receiver: TransmissionReceiverConfig, config: Transmitter, *,
                 heartbeat_interval: float | None = None, ack_timeout: float = 3.0,
                 tries: int = 3, reconnect_delay: float = 0.5,
                 duty_answer_delay: float | None = 0.2) -> None:
        self.config = config
        self.device_id = config.id
        self.host = _connect_host(receiver.listen.host)
        self.port = receiver.listen.port
        self.centre = receiver.centre
        self.timezone = receiver.timezone
        self.configured_variant = config.variant.codec()
        self.variant = self.configured_variant
        self.heartbeat_interval = heartbeat_interval or max(
            1.0, min(30.0, receiver.heartbeat_timeout / 3)
        )
        self.ack_timeout = ack_timeout
        self.tries = tries
        self.reconnect_delay = reconnect_delay
        self.duty_answer_delay = duty_answer_delay
        self.status = int(TransmitterBit.NORMAL)
        self.counters = Counters()
        self.clock_offset = timedelta(0)
        self.stuck_clock: datetime | None = None  # a clock that stopped at this time
        self.clock_unset = False  # writes six zero bytes for every time label
        self.byte_delay = 0.0  # dribble: seconds between the bytes of a frame
        self._talking = asyncio.Event()  # cleared while hung: connected, saying nothing
        self._talking.set()
        self.components: dict[tuple[int, int, int], SimComponent] = {}
        for site in config.components:
            system_type = site.system_type if site.system_type is not None else 1
            key = (system_type, site.system_address, site.component_address)
            self.components[key] = SimComponent(*key, description=site.location)
        self._queue: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._link_wanted = asyncio.Event()
        self._link_wanted.set()
        self._writer: asyncio.StreamWriter | None = None
        self._in_flight: tuple[int, asyncio.Future[int]] | None = None
        self._serial = 0
        self._task: asyncio.Task[None] | None = None
        self._flood: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting; a centre that is not listening yet is retried, never an error."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"gbt26875 sim {self.device_id}")

    async def stop(self) -> None:
        await self.stop_flood()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._link_wanted.wait()
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(self.reconnect_delay)
                continue
            self._writer = writer
            self.counters.connects += 1
            self.heartbeat()
            receiving = asyncio.create_task(self._receive(reader))
            try:
                reason = await self._send(writer, receiving)
                log.info("%s: leaving the connection: %s", self.device_id, reason)
            finally:
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                self._writer = None
                writer.close()
            await asyncio.sleep(self.reconnect_delay)

    async def _send(self, writer: asyncio.StreamWriter, receiving: asyncio.Task[None]) -> str:
        """Send queued frames one at a time until the link must go; returns why."""
        while True:
            if not self._link_wanted.is_set():
                return "disconnect requested"
            if receiving.done():
                return "the centre closed the connection"
            if not self._talking.is_set():
                await _first(receiving, self._talking.wait(), self._wake.wait())
                self._wake.clear()
                continue
            if not self._queue:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.heartbeat_interval)
                except TimeoutError:
                    self.heartbeat()
                continue
            item = self._queue[0]
            if not await self._deliver(writer, item):
                return f"frame {item.serial} unanswered after {item.attempts} attempts"
            self._queue.popleft()

    async def _deliver(self, writer: asyncio.StreamWriter, item: Outgoing) -> bool:
        """Send one frame until the centre confirms or denies it; False: give up the link."""
        for _ in range(self.tries):
            if item.attempts:
                self.counters.retransmitted += 1
            else:
                self.counters.sent += 1
            item.attempts += 1
            answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._in_flight = (item.serial, answer)
            try:
                await self._write(writer, item.raw)
                command = await asyncio.wait_for(answer, self.ack_timeout)
            except TimeoutError:
                continue
            except (ConnectionError, OSError):
                return False
            finally:
                self._in_flight = None
            if command == Command.CONFIRM:
                self.counters.acked += 1
            else:
                self.counters.denied += 1
            return True
        return False

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        frames = FrameReader(self.configured_variant)
        try:
            while data := await reader.read(4096):
                for item in frames.feed(data):
                    if isinstance(item, Frame):
                        self._on_frame(item)
        except OSError:
            pass
        finally:
            if self._in_flight is not None and not self._in_flight[1].done():
                self._in_flight[1].set_exception(ConnectionError("connection closed"))
            self._wake.set()

    def _on_frame(self, frame: Frame) -> None:
        if frame.command in (Command.CONFIRM, Command.DENY):
            if self._in_flight is not None and self._in_flight[0] == frame.serial:
                if not self._in_flight[1].done():
                    self._in_flight[1].set_result(frame.command)
            elif frame.command == Command.DENY:
                self.counters.denied += 1  # a malformed frame of ours, denied by its serial
        elif frame.command == Command.CONTROL:
            self._on_control(frame)
        else:
            self._reply(frame, Command.DENY)

    def _on_control(self, frame: Frame) -> None:
        try:
            data = decode_units(frame.app_data, self.configured_variant)
        except CodecError:
            self._reply(frame, Command.DENY)
            return
        for unit in data.objects:
            if isinstance(unit, ClockSync) and unit.time is not None:
                self.counters.clock_syncs += 1
                local = datetime.now(self.timezone).replace(tzinfo=None, microsecond=0)
                self.clock_offset = unit.time - local
            elif isinstance(unit, DutyCheck):
                self.counters.duty_checks += 1
                if self.duty_answer_delay is not None:
                    asyncio.get_running_loop().call_later(self.duty_answer_delay,
                                                          self.answer_duty_check)
        self._reply(frame, Command.CONFIRM)

    def _reply(self, frame: Frame, command: Command) -> None:
        if self._writer is not None and self._talking.is_set():
            self._writer.write(encode_frame(reply_to(frame, command, self.stamp()),
                                            self.variant))

    async def _write(self, writer: asyncio.StreamWriter, raw: bytes) -> None:
        if not self.byte_delay:
            writer.write(raw)
            await writer.drain()
            return
        for i in range(len(raw)):
            writer.write(raw[i:i + 1])
            await writer.drain()
            await asyncio.sleep(self.byte_delay)

    # --- the panel ----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The device's clock: local time plus whatever a clock sync corrected (or stuck)."""
        if self.stuck_clock is not None:
            return self.stuck_clock
        return datetime.now(self.timezone).replace(tzinfo=None, microsecond=0) + self.clock_offset

    def stamp(self) -> datetime | None:
        """The time label the device writes: its clock, or none when the clock is unset."""
        return None if self.clock_unset else self.now()

    def set_clock(self, offset: float = 0.0, stuck: datetime | None = None,
                  unset: bool = False) -> None:
        """A clock ``offset`` seconds off, stopped at ``stuck``, or never set (``unset``)."""
        self.clock_offset = timedelta(seconds=offset)
        self.stuck_clock = stuck
        self.clock_unset = unset

    def component(self, component_address: int, system_type: int = 1, system_address: int = 1,
                  component_type: int | None = None, description: str | None = None,
                  ) -> SimComponent:
        key = (system_type, system_address, component_address)
        component = self.components.setdefault(key, SimComponent(*key))
        if component_type is not None:
            component.component_type = component_type
        if description is not None:
            component.description = description
        return component

    def set_condition(self, component: SimComponent, condition: str, on: bool = True) -> int:
        """Set or clear one condition bit and report the component; returns the frame serial."""
        bit = CONDITION_BITS[condition]
        component.status = (component.status | bit) if on else (component.status & ~bit)
        return self.report([component.unit(self.stamp())])

    def restore(self, component: SimComponent, condition: str | None = None) -> int:
        if condition is None:
            component.status &= ~ABNORMAL
            return self.report([component.unit(self.stamp())])
        return self.set_condition(component, condition, on=False)

    def system_reset(self, system_type: int = 1, system_address: int = 1) -> int:
        """The panel's reset: its components return to normal and it reports the reset bit."""
        for component in self.components.values():
            if (component.system_type, component.system_address) == (system_type, system_address):
                component.status &= ~ABNORMAL
        status = SystemBit.NORMAL | SystemBit.RESET
        return self.report([SystemStatus(system_type, system_address, status, self.stamp())])

    def silence(self, system_type: int = 1, system_address: int = 1, operator: int = 1) -> int:
        record = OperationRecord(system_type, system_address, OperationFlag.SILENCE, operator,
                                 self.stamp())
        return self.report([record])

    def answer_duty_check(self, operator: int = 1) -> int:
        flags = TransmitterOperationFlag.DUTY_ANSWERED
        return self.report([TransmitterOperation(flags, operator, self.stamp())])

    def heartbeat(self) -> int:
        return self.report([TransmitterStatus(self.status, self.stamp())])

    def report(self, units: list[Unit]) -> int:
        """Queue one data frame in the current variant; returns its serial number."""
        outgoing = self._data_frame(units)
        self._queue.append(outgoing)
        self._wake.set()
        return outgoing.serial

    def _data_frame(self, units: list[Unit]) -> Outgoing:
        """A data frame of ``units`` in the current variant, with the next serial number."""
        serial = self._next_serial()
        frame = Frame(serial, Command.SEND_DATA, self.config.wire_address, self.centre,
                      encode_units(units, self.variant), self.stamp())
        return Outgoing(serial, encode_frame(frame, self.variant))

    # --- the link -----------------------------------------------------------------------------

    async def disconnect(self) -> None:
        """Drop the connection and stay away until ``connect``."""
        self._link_wanted.clear()
        if self._writer is not None:
            self._writer.close()
        self._wake.set()

    def connect(self) -> None:
        self._link_wanted.set()

    def send_malformed(self, kind: MalformedKind) -> bytes:
        """Put a bad frame on the wire now, outside the queue; the centre should deny it."""
        if self._writer is None:
            raise SimulatorError(f"{self.device_id}: not connected, cannot send a frame now")
        raw = malformed_frame(kind, self._next_serial(), self.config.wire_address, self.centre,
                              self.now(), self.variant)
        self._writer.write(raw)
        self.counters.malformed += 1
        return raw

    def start_flood(self, frames: int, objects: int, rate: float, seed: int | None) -> None:
        """Misbehave: send well-formed frames of random component statuses (random addresses,
        random status words, so thousands of made-up conditions) without waiting for answers,
        like a transmitter whose panel interface has gone mad. ``frames`` 0: until stopped."""
        if self._writer is None:
            raise SimulatorError(f"{self.device_id}: not connected, cannot flood")
        if self._flood is not None and not self._flood.done():
            raise SimulatorError(f"{self.device_id}: already flooding")
        self._flood = asyncio.create_task(self._flooding(frames, objects, rate,
                                                         random.Random(seed)))

    async def stop_flood(self) -> None:
        if self._flood is not None:
            self._flood.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flood
            self._flood = None

    async def _flooding(self, frames: int, objects: int, rate: float,
                        rng: random.Random) -> None:
        sent = 0
        while frames == 0 or sent < frames:
            writer = self._writer
            if writer is None:
                await asyncio.sleep(0.1)
                continue
            now = self.now()
            units: list[Unit] = [
                ComponentStatus(1, rng.randrange(1, 8), SMOKE_DETECTOR,
                                rng.randrange(0, 0xFFFFFFFF), rng.randrange(0, 0x10000), "", now)
                for _ in range(objects)]
            frame = Frame(self._next_serial(), Command.SEND_DATA, self.config.wire_address,
                          self.centre, encode_units(units, self.variant), now)
            try:
                writer.write(encode_frame(frame, self.variant))
                await writer.drain()
            except (ConnectionError, OSError):
                await asyncio.sleep(0.1)
                continue
            sent += 1
            self.counters.flooded += 1
            await asyncio.sleep(1 / rate if rate > 0 else 0)

    async def repeat(self, component: SimComponent, condition: str, times: int) -> int:
        """Set ``condition`` at ``component`` and send its frame ``times`` times, the same
        bytes and serial each time, whatever the centre answers: a transmitter that never hears
        the ACKs. Returns the serial."""
        if self._writer is None:
            raise SimulatorError(f"{self.device_id}: not connected, cannot send a frame now")
        component.status |= CONDITION_BITS[condition]
        outgoing = self._data_frame([component.unit(self.stamp())])
        for _ in range(times):
            if self._writer is None:
                break
            self._writer.write(outgoing.raw)
            self.counters.retransmitted += 1
            await asyncio.sleep(0.05)
        return outgoing.serial

    def hang(self, on: bool = True) -> None:
        """Keep the connection but say nothing (no frame, heartbeat or answer) while ``on``."""
        if on:
            self._talking.clear()
        else:
            self._talking.set()
        self._wake.set()

    def send_variant(self, variant: Variant) -> None:
        """Write later frames in another vendor variant (the centre should refuse them)."""
        self.variant = variant

    def _next_serial(self) -> int:
        self._serial = (self._serial + 1) & 0xFFFF
        return self._serial

    def state(self) -> dict[str, Any]:
        return {
            "id": self.device_id,
            "address": self.config.address,
            "connected": self.connected,
            "link_wanted": self._link_wanted.is_set(),
            "variant": {"time": self.variant.time, "checksum": self.variant.checksum},
            "status": self.status,
            "frames": vars(self.counters).copy(),
            "queued": len(self._queue),
            "flooding": self._flood is not None and not self._flood.done(),
            "clock_offset_s": round(self.clock_offset.total_seconds(), 3),
            "clock": "unset" if self.clock_unset else self.now().isoformat(),
            "hung": not self._talking.is_set(),
            "byte_delay": self.byte_delay,
            "components": [c.view() for c in self.components.values()],
        }


async def _first(task: asyncio.Task[None], *waits: Coroutine[Any, Any, Any]) -> None:
    """Until ``task`` is done or one of ``waits`` returns (the others are cancelled)."""
    others = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait([task, *others], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for other in others:
            other.cancel()


def _connect_host(listen_host: str) -> str:
    """Where to reach a receiver that listens on ``listen_host`` (any-address -> loopback)."""
    if listen_host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if listen_host == "::":
        return "::1"
    return listen_host
