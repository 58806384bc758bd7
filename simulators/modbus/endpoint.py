"""One place on the wire where Modbus units answer: a TCP host:port or an RTU serial line.

Several units may share an endpoint (a TCP/RTU gateway in front of an RS-485 line, or several
modules on one line), so taking a unit offline is decided per unit and applied here:

* ``silent``: the endpoint keeps listening but requests for the unit get no answer, like a module
  whose cable was cut behind a gateway; the poller sees timeouts.
* ``refuse``: the unit wants its link gone. The link goes only when every unit on it wants that
  (a TCP port stops listening and drops its connections; a serial line is unplugged); until then
  the unit stays silent, because one module cannot take its neighbours off the wire.

The server object, and so the data store, lives from ``start`` to ``stop``: coils a gateway
switched on are still on when the unit comes back online, as on a module that kept its power.

A unit can also be made to answer its read requests with malformed replies, the kinds met in
the field, to check that a client never takes them for input states:

* ``byte-count``: the byte count says one byte more than the reply carries, and the bytes are
  all 1s (read blindly, every input of a module is active: a false panic alarm);
* ``short``: a consistent reply with one data byte fewer than the request needs;
* ``function-code``: the reply of the neighbouring table (coils for inputs, holding for input
  registers, and back).
* ``garbage``: a function code no Modbus function has (0x7F), which a client's framer cannot
  decode at all.

And a unit can be slow (``reply-delay``): it answers every request from the wire that many
seconds late, like a module behind a congested serial gateway; the tester's own reads and writes
of its data store are not delayed.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field
from pymodbus import FramerType
from pymodbus.framer import FramerRTU
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimDevice

from drivers.modbus.models import RtuLink, TcpLink
from simulators.modbus.pty_relay import PtyRelay
from simulators.simulator import StartError

UnitMode = Literal["online", "silent", "refuse"]
ReplyFault = Literal["none", "byte-count", "short", "function-code", "garbage"]
_READS = {1: 2, 2: 1, 3: 4, 4: 3}  # read function code -> the neighbouring table's


class ReplyFaultArgs(BaseModel):
    """``reply-fault``: answer reads with malformed replies of this kind (``none`` to stop)."""

    model_config = ConfigDict(extra="forbid")
    kind: ReplyFault


class ReplyDelayArgs(BaseModel):
    """``reply-delay``: answer requests from the wire this many seconds late (0: at once)."""

    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=60)

COILS = 1
DISCRETE_INPUTS = 2

_Server = TypeVar("_Server", ModbusTcpServer, ModbusSerialServer)
_PduFilter = Callable[[bool, ModbusPDU], ModbusPDU]


class ModbusEndpoint(ABC, Generic[_Server]):
    """Owns one pymodbus server for the units at one link, and whether that link is up."""

    def __init__(self, label: str, devices: list[SimDevice], owners: str) -> None:
        self.label = label
        self.owners = owners
        self._devices = devices
        self._modes: dict[int, UnitMode] = {device.id: "online" for device in devices}
        self._faults: dict[int, ReplyFault] = {}
        self._delays: dict[int, float] = {}
        self._server: _Server | None = None
        self._store: Any = None  # the data store itself, behind the delaying one the wire sees
        self.link_up = False

    @property
    def wants_link(self) -> bool:
        return any(mode != "refuse" for mode in self._modes.values())

    async def start(self) -> None:
        self._server = await self._create_server()
        self._store = self._server.context
        self._server.context = _DelayedStore(self._store, self._delays)  # type: ignore[assignment]
        await self._reconcile()

    async def stop(self) -> None:
        if self._server is None:
            return
        if self.link_up:
            await self._close_link(self._server)
            self.link_up = False
        await self._shutdown(self._server)
        self._server = None

    async def set_mode(self, unit: int, mode: UnitMode) -> None:
        self._modes[unit] = mode
        await self._reconcile()

    def set_fault(self, unit: int, fault: ReplyFault) -> None:
        if fault == "none":
            self._faults.pop(unit, None)
        else:
            self._faults[unit] = fault

    def fault(self, unit: int) -> ReplyFault:
        return self._faults.get(unit, "none")

    def set_delay(self, unit: int, seconds: float) -> None:
        if seconds > 0:
            self._delays[unit] = seconds
        else:
            self._delays.pop(unit, None)

    def delay(self, unit: int) -> float:
        return self._delays.get(unit, 0.0)

    async def read_values(self, unit: int, function_code: int, address: int,
                          count: int) -> list[int] | list[bool]:
        """Values of the unit's data store, read at once (a ``reply-delay`` is for the wire)."""
        self._running()
        values = await self._store.async_getValues(unit, function_code, address, count)
        if not isinstance(values, list):
            raise RuntimeError(f"modbus {self.label}: unit {unit} has no such addresses")
        return values

    async def write_values(self, unit: int, function_code: int, address: int,
                           values: list[int] | list[bool]) -> None:
        self._running()
        if await self._store.async_setValues(unit, function_code, address, values):
            raise RuntimeError(f"modbus {self.label}: unit {unit} has no such addresses")

    async def read(self, unit: int, function_code: int, address: int, count: int) -> list[bool]:
        values = await self.read_values(unit, function_code, address, count)
        return [bool(v) for v in values]

    async def write(self, unit: int, function_code: int, address: int, values: list[bool]) -> None:
        await self.write_values(unit, function_code, address, values)

    def _running(self) -> _Server:
        if self._server is None:
            raise RuntimeError(f"modbus {self.label}: simulator is not started")
        return self._server

    async def _reconcile(self) -> None:
        server = self._running()
        if self.wants_link and not self.link_up:
            await self._open_link(server)
            self.link_up = True
        elif not self.wants_link and self.link_up:
            await self._close_link(server)
            self.link_up = False

    @property
    def _request_filter(self) -> _PduFilter:
        """Drop requests for units that are offline or not simulated here: no answer at all.

        pymodbus types the hook as returning a PDU, but a falsy result is what makes its request
        handler skip the request, which is exactly a module that does not answer.
        """

        def keep(sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
            if not sending and self._modes.get(pdu.dev_id) != "online":
                return None
            return pdu

        return cast(_PduFilter, keep)

    def _spoil(self, unit: int, pdu: bytes) -> bytes:
        """The reply PDU as the unit's fault would have it (unchanged if it has none)."""
        fault = self._faults.get(unit)
        if fault is None or len(pdu) < 2 or pdu[0] not in _READS:
            return pdu
        if fault == "byte-count":
            return bytes((pdu[0], (pdu[1] + 1) & 0xFF)) + b"\xff" * (len(pdu) - 2)
        if fault == "short" and pdu[1] > 0:
            return bytes((pdu[0], pdu[1] - 1)) + pdu[2:-1]
        if fault == "function-code":
            return bytes((_READS[pdu[0]],)) + pdu[1:]
        if fault == "garbage":
            return b"\x7f" + pdu[1:]
        return pdu

    @abstractmethod
    def _packet_filter(self, sending: bool, packet: bytes) -> bytes:
        """pymodbus's hook on every packet: spoils the replies of faulty units."""

    @abstractmethod
    async def _create_server(self) -> _Server: ...

    @abstractmethod
    async def _open_link(self, server: _Server) -> None: ...

    @abstractmethod
    async def _close_link(self, server: _Server) -> None: ...

    async def _shutdown(self, server: _Server) -> None:
        await server.shutdown()


class _DelayedStore:
    """The data store as requests from the wire reach it: a slow unit's answers wait.

    pymodbus answers each request in a task of its own, so a slow unit delays only its own
    answers, as a slow module behind a shared line would.
    """

    def __init__(self, store: Any, delays: dict[int, float]) -> None:
        self._store = store
        self._delays = delays

    async def async_getValues(self, unit: int, *args: Any) -> Any:
        if delay := self._delays.get(unit):
            await asyncio.sleep(delay)
        return await self._store.async_getValues(unit, *args)

    async def async_setValues(self, unit: int, *args: Any) -> Any:
        if delay := self._delays.get(unit):
            await asyncio.sleep(delay)
        return await self._store.async_setValues(unit, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class TcpEndpoint(ModbusEndpoint[ModbusTcpServer]):
    def __init__(self, link: TcpLink, devices: list[SimDevice], owners: str) -> None:
        super().__init__(f"tcp {link.host}:{link.port}", devices, owners)
        self.link = link

    async def _create_server(self) -> ModbusTcpServer:
        return ModbusTcpServer(
            self._devices, address=(self.link.host, self.link.port),
            trace_pdu=self._request_filter, trace_packet=self._packet_filter,
        )

    def _packet_filter(self, sending: bool, packet: bytes) -> bytes:
        if not sending or not self._faults or len(packet) < 8:
            return packet
        pdu = self._spoil(packet[6], packet[7:])
        return packet[:4] + (len(pdu) + 1).to_bytes(2, "big") + packet[6:7] + pdu

    async def _open_link(self, server: ModbusTcpServer) -> None:
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            raise StartError(
                f"{self.owners}: modbus {self.label}: cannot listen (is the port in use by"
                " another program, or the host not an address of this machine?)"
            ) from None

    async def _close_link(self, server: ModbusTcpServer) -> None:
        server.close()


class RtuEndpoint(ModbusEndpoint[ModbusSerialServer]):
    """A serial line reached through a pty relay; unplugging removes the gateway's port path."""

    def __init__(self, link: RtuLink, devices: list[SimDevice], owners: str) -> None:
        super().__init__(f"rtu {link.port}", devices, owners)
        self.link = link
        self._relay = PtyRelay(link.port)

    async def _create_server(self) -> ModbusSerialServer:
        self._relay.open()
        server = ModbusSerialServer(
            self._devices,
            framer=FramerType.RTU,
            port=self._relay.module_port,
            baudrate=self.link.baudrate,
            parity=self.link.parity,
            stopbits=self.link.stopbits,
            bytesize=self.link.bytesize,
            trace_pdu=self._request_filter,
            trace_packet=self._packet_filter,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            self._relay.close()
            raise StartError(
                f"{self.owners}: modbus {self.label}: cannot open the simulated line"
            ) from None
        return server

    def _packet_filter(self, sending: bool, packet: bytes) -> bytes:
        if not sending or not self._faults or len(packet) < 4:
            return packet
        frame = packet[:1] + self._spoil(packet[0], packet[1:-2])
        return frame + FramerRTU.compute_CRC(frame).to_bytes(2, "big")

    async def _open_link(self, server: ModbusSerialServer) -> None:
        self._relay.plug()

    async def _close_link(self, server: ModbusSerialServer) -> None:
        self._relay.unplug()

    async def _shutdown(self, server: ModbusSerialServer) -> None:
        await server.shutdown()
        self._relay.close()
