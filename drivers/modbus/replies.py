"""Every Modbus reply is checked here before one bit of it is used.

pymodbus decodes a read reply by its function code and hands back what the bytes contained: it
does not compare the byte count field with the data behind it, nor the reply with the request it
answers. A module that answers with a wrong byte count, too few bits or the function code of
another table would otherwise have its bytes read as input states (a false panic alarm). So the
poller's clients decode read replies with the checked classes below (which keep the byte count,
and never raise inside pymodbus's receive path), and the drivers take bits and registers only
through ``bits_of`` and ``registers_of``, which raise ``MalformedReply`` (a failed poll, with
its reason) unless the reply is exactly what the request asked for.
"""

from __future__ import annotations

from typing import Any

from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)


class Unreachable(Exception):
    """A poll that got no usable answer: no connection, or a Modbus exception reply."""


class MalformedReply(Unreachable):
    """A reply that is not a well-formed answer to the request it came for."""


class CheckedReadCoils(ReadCoilsResponse):
    """Keeps the byte count and the length of the data behind it, for ``bits_of``."""

    byte_count = -1
    data_length = -1

    def decode(self, data: bytes) -> None:
        self.byte_count = data[0] if data else -1
        self.data_length = len(data) - 1
        super().decode(data)


class CheckedReadDiscreteInputs(CheckedReadCoils):
    function_code = ReadDiscreteInputsResponse.function_code


class CheckedReadHoldingRegisters(ReadHoldingRegistersResponse):
    """Keeps the byte count; a count the data cannot hold is noted, not raised (pymodbus would
    raise inside its receive callback, which only logs a traceback and loses the answer)."""

    byte_count = -1
    data_length = -1
    problem = ""

    def decode(self, data: bytes) -> None:
        self.byte_count = data[0] if data else -1
        self.data_length = len(data) - 1
        if self.byte_count < 0:
            self.problem = "is empty (no byte count)"
        elif self.byte_count > self.data_length:
            self.problem = (f"says {self.byte_count} data bytes but carries "
                            f"{self.data_length}: {data[1:17].hex(' ')}")
        elif self.byte_count % 2:
            self.problem = (f"says {self.byte_count} data bytes, an odd count for registers: "
                            f"{data[1:17].hex(' ')}")
        if self.problem:
            self.registers = []
            return
        super().decode(data)


class CheckedReadInputRegisters(CheckedReadHoldingRegisters):
    function_code = ReadInputRegistersResponse.function_code


CHECKED = (CheckedReadCoils, CheckedReadDiscreteInputs, CheckedReadHoldingRegisters,
           CheckedReadInputRegisters)


def use_checked_replies(client: Any) -> None:
    """Make ``client`` decode read replies with the checked classes."""
    for response in CHECKED:
        client.register(response)


def _common(reply: Any, function_code: int, wanted_bytes: int, what: str) -> None:
    if reply.isError():
        raise Unreachable(f"the device answered {what} with an exception: {reply}")
    if reply.function_code != function_code:
        raise MalformedReply(f"asked {what} (function {function_code}), the reply is for "
                             f"function {reply.function_code}")
    byte_count = getattr(reply, "byte_count", None)
    if byte_count is None:
        raise MalformedReply(f"the reply to {what} was not decoded by the checked decoder")
    if byte_count != reply.data_length:
        raise MalformedReply(f"the reply to {what} says {byte_count} data bytes but carries "
                             f"{reply.data_length}")
    if byte_count != wanted_bytes:
        raise MalformedReply(f"the reply to {what} has {byte_count} data bytes, the request "
                             f"needs {wanted_bytes}")


def bits_of(reply: Any, function_code: int, address: int, count: int) -> list[bool]:
    """The ``count`` bits of a read-coils/discrete-inputs reply, checked against its request."""
    _common(reply, function_code, (count + 7) // 8, f"{count} bits at {address}")
    return [bool(b) for b in reply.bits[:count]]


def registers_of(reply: Any, function_code: int, address: int, count: int) -> list[int]:
    """The ``count`` registers of a read-registers reply, checked against its request."""
    what = f"{count} registers at {address}"
    if getattr(reply, "problem", ""):
        raise MalformedReply(f"the reply to {what} {reply.problem}")
    _common(reply, function_code, 2 * count, what)
    return [int(r) for r in reply.registers[:count]]
