"""Modbus replies are checked against their request before one bit or register is used."""

from __future__ import annotations

import pytest

from drivers.modbus.replies import (
    CheckedReadCoils,
    CheckedReadDiscreteInputs,
    CheckedReadHoldingRegisters,
    CheckedReadInputRegisters,
    MalformedReply,
    bits_of,
    registers_of,
)


def decoded(cls: type, pdu_data: bytes) -> object:
    reply = cls()
    reply.decode(pdu_data)
    return reply


def test_well_formed_replies_give_their_values() -> None:
    assert bits_of(decoded(CheckedReadDiscreteInputs, b"\x02\x05\x01"), 2, 0, 9) == [
        True, False, True, False, False, False, False, False, True]
    assert registers_of(decoded(CheckedReadHoldingRegisters, b"\x04\x00\x01\x12\x34"),
                        3, 100, 2) == [1, 0x1234]


@pytest.mark.parametrize(("cls", "data", "function_code", "count", "message"), [
    (CheckedReadDiscreteInputs, b"\x03\xff\xff", 2, 16, "says 3 data bytes but carries 2"),
    (CheckedReadDiscreteInputs, b"\x01\xff", 2, 16, "the request needs 2"),
    (CheckedReadCoils, b"\x02\xff\xff", 2, 16, "the reply is for function 1"),
    (CheckedReadInputRegisters, b"\x02\x00\x01", 4, 2, "the request needs 4"),
    (CheckedReadInputRegisters, b"\x09\x00\x01", 4, 2, "says 9 data bytes but carries 2: 00 01"),
    (CheckedReadHoldingRegisters, b"\x03\x00\x01\x02", 3, 2, "an odd count for registers"),
])
def test_malformed_replies_are_refused_with_their_reason(
        cls: type, data: bytes, function_code: int, count: int, message: str) -> None:
    reply = decoded(cls, data)
    take = bits_of if function_code in (1, 2) else registers_of
    with pytest.raises(MalformedReply, match=message):
        take(reply, function_code, 0, count)
