"""The pure decoder: hand-built register blocks in, active conditions and panel flags out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus_fire.catalog import SHIPPED_PROFILES, load_register_map, parse_register_map
from drivers.modbus_fire.register_map import (
    Block,
    DecodeError,
    EncodeError,
    Read,
    RegisterMap,
    plan_reads,
)

STATUS_WORD = load_register_map(SHIPPED_PROFILES / "status-word-v1.yaml")
BITMAP = load_register_map(SHIPPED_PROFILES / "bitmap-v1.yaml")


def words(length: int, **at: int) -> list[int]:
    """``length`` zero registers with a few set: ``words(32, r11=0x0001)``."""
    values = [0] * length
    for key, value in at.items():
        values[int(key[1:])] = value
    return values


def bits(length: int, *on: int, fill: int = 0) -> list[int]:
    values = [fill] * length
    for index in on:
        values[index] = 1
    return values


def test_status_word_profile_reads_three_blocks() -> None:
    assert STATUS_WORD.reads == [
        Read("holding_registers", 0, 1),
        Read("holding_registers", 100, 32),
        Read("holding_registers", 300, 16),
    ]


def test_status_word_decoding() -> None:
    reading = STATUS_WORD.decode([
        # panel word: backup power fault (bit 1), silenced (bit 3), earth fault (bit 8)
        Block("holding_registers", 0, [0x010A]),
        # L1-P1 fault + its own power fault; L1-P12 fire; L1-P32 shielded (disabled)
        Block("holding_registers", 100, words(32, r0=0x0022, r11=0x0001, r31=0x0008)),
        # loop 2 starts at register 300: L2-P16 supervisory + pre-alarm
        Block("holding_registers", 300, words(16, r15=0x0014)),
    ])
    assert reading.active == {
        ("L1-P1", "fault"),
        ("L1-P1", "power_fault"),
        ("L1-P12", "fire"),
        ("L1-P32", "shielded"),
        ("L2-P16", "supervisory"),
        ("L2-P16", "pre_alarm"),
        ("system-backup-power", "power_fault"),
        ("system-earth", "fault"),
    }
    assert reading.silenced is True
    assert reading.reset is False
    assert reading.status_of("L1-P12") == 0x0001
    assert reading.status_of("L2-P16") == 0x0014
    assert reading.status_of("L1-P2") == 0


def test_status_word_points_carry_profile_facts() -> None:
    point = STATUS_WORD.points["L1-P12"]
    assert (point.loop, point.number, point.zone) == (1, 12, 2)
    assert point.component_type == "manual call point"
    assert point.description == "Manual call point 2F"
    assert STATUS_WORD.points["L2-P3"].description == "Manual call point 2.3"
    assert STATUS_WORD.points["L1-P3"].description == "Detector 1.3"
    assert STATUS_WORD.points["L1-P3"].status_word == ("holding_registers", 102)


def test_bitmap_profile_joins_blocks_across_small_gaps() -> None:
    assert BITMAP.reads == [
        Read("discrete_inputs", 0, 352),
        Read("discrete_inputs", 512, 4),
        Read("input_registers", 0, 22),
    ]


def test_bitmap_decoding() -> None:
    reading = BITMAP.decode([
        # fire L1-P1 (slot 0) and L2-P3 (slot 66); pre-alarm L1-P64 (128 + 63);
        # fault L2-P32 (256 + 95). The unused inputs between blocks read 1: they mean nothing.
        Block("discrete_inputs", 0, [
            *bits(96, 0, 66), *bits(32, fill=1), *bits(96, 63), *bits(32, fill=1),
            *bits(96, 95),
        ]),
        # main power fault and reset
        Block("discrete_inputs", 512, [True, False, True, False]),
        # supervisory L1-P20 (slot 19: register 1, bit 3); shielded L2-P1 (slot 64: register 20)
        Block("input_registers", 0, words(22, r1=1 << 3, r20=1)),
    ])
    assert reading.active == {
        ("L1-P1", "fire"),
        ("L2-P3", "fire"),
        ("L1-P64", "pre_alarm"),
        ("L2-P32", "fault"),
        ("L1-P20", "supervisory"),
        ("L2-P1", "shielded"),
        ("system-main-power", "power_fault"),
    }
    assert reading.reset is True
    assert reading.silenced is False
    assert reading.status is None, "bitmap panels have no status word per point"


def test_missing_block_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="holding_registers 300"):
        STATUS_WORD.decode([
            Block("holding_registers", 0, [0]),
            Block("holding_registers", 100, words(32)),
        ])


def inline(document: dict[str, Any]) -> RegisterMap:
    return parse_register_map(document, Path("inline.yaml"))


CODED = {
    "points": [{"loop": 3, "first": 0, "count": 20}],
    "layout": {
        "kind": "status_word",
        "table": "input_registers",
        "address": 10,
        "stride": 2,
        "conditions": {
            # low byte: one state code; bit 15 set while the point is healthy
            "fire": {"mask": 0x00FF, "value": 1},
            "pre_alarm": {"mask": 0x00FF, "value": 2},
            "fault": {"bit": 15, "active_low": True},
        },
    },
}


def test_state_codes_and_active_low_bits() -> None:
    register_map = inline(CODED)
    assert register_map.points["L3-P0"].status_word == ("input_registers", 10)
    assert register_map.points["L3-P1"].status_word == ("input_registers", 12)
    values = [0x8000] * 40
    values[0] = 0x8001  # L3-P0 fire, healthy
    values[2] = 0x0002  # L3-P1 pre-alarm and faulty
    values[4] = 0x8003  # L3-P2 an unknown code: nothing
    reading = register_map.decode([Block("input_registers", 10, values[:39])])
    assert reading.active == {("L3-P0", "fire"), ("L3-P1", "pre_alarm"), ("L3-P1", "fault")}


def test_two_codes_of_one_field_cannot_be_shown_at_once() -> None:
    register_map = inline(CODED)
    assert register_map.encode({("L3-P4", "fire")})[("input_registers", 18)] == 0x8001
    with pytest.raises(EncodeError, match=r"cannot show these conditions at once: L3-P4/"):
        register_map.encode({("L3-P4", "fire"), ("L3-P4", "pre_alarm")})


def test_msb_first_register_bits() -> None:
    register_map = inline({
        "points": [{"loop": 1, "count": 24}],
        "layout": {"kind": "bitmap", "conditions": {
            "fire": {"table": "holding_registers", "address": 7, "bit_order": "msb_first"},
        }},
    })
    # slot 0 is the top bit of register 7; slot 20 is register 8, bit 15 - 4 = 11
    reading = register_map.decode([Block("holding_registers", 7, [0x8000, 0x0800])])
    assert reading.active == {("L1-P1", "fire"), ("L1-P21", "fire")}


def test_reads_are_split_at_the_protocol_limits() -> None:
    cells = [("discrete_inputs", a) for a in range(2500)] + [("input_registers", a) for a in
                                                               range(0, 300, 2)]
    assert plan_reads(cells) == [
        Read("discrete_inputs", 0, 2000),
        Read("discrete_inputs", 2000, 500),
        *[Read("input_registers", a, 1) for a in range(0, 300, 2)],
    ]
    assert plan_reads(cells, gap=1)[2:] == [
        Read("input_registers", 0, 125),
        Read("input_registers", 126, 125),
        Read("input_registers", 252, 47),
    ]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_encoding_then_decoding_gives_back_the_conditions(data: st.DataObject) -> None:
    for register_map in (STATUS_WORD, BITMAP):
        signals = sorted({(s.point, s.condition) for s in register_map.signals})
        active = data.draw(st.sets(st.sampled_from(signals), max_size=12))
        flags = data.draw(st.sets(st.sampled_from(sorted(register_map.flags))))
        values = register_map.encode(active, flags)
        blocks = [
            Block(r.table, r.address, [values[r.table, r.address + i] for i in range(r.count)])
            for r in register_map.reads
        ]
        reading = register_map.decode(blocks)
        assert reading.active == active
        assert (reading.reset, reading.silenced) == ("reset" in flags, "silenced" in flags)
