"""The Modbus endpoints of ``simulators.modbus``, able to read and write registers as well as bits.

A fire panel's profile may put its points in any of the four tables, so the simulator needs
register values, not only the input levels an I/O module has. Listening, offline modes and the
RTU pty relay are exactly those of the I/O module simulator.
"""

from __future__ import annotations

from typing import Any

from simulators.modbus.endpoint import ModbusEndpoint, RtuEndpoint, TcpEndpoint

# Modbus function codes that read each table; the simulator's data store is addressed by them.
READ_CODES = {"coils": 1, "discrete_inputs": 2, "holding_registers": 3, "input_registers": 4}
WRITE_COIL_CODES = frozenset({5, 15})


class WordEndpoint(ModbusEndpoint[Any]):
    """Table access by name: bits come back as 0/1, registers as their 16-bit values."""

    async def read_table(self, unit: int, table: str, address: int, count: int) -> list[int]:
        values = await self.read_values(unit, READ_CODES[table], address, count)
        return [int(v) for v in values]

    async def write_table(self, unit: int, table: str, address: int, values: list[int]) -> None:
        data: list[int] | list[bool] = (
            [bool(v) for v in values] if table in ("coils", "discrete_inputs") else values
        )
        await self.write_values(unit, READ_CODES[table], address, data)


class FireTcpEndpoint(WordEndpoint, TcpEndpoint):
    pass


class FireRtuEndpoint(WordEndpoint, RtuEndpoint):
    pass
