"""The site-file section: links, readers, keys, card formats, what it references."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drivers.osdp.models import OsdpBusConfig, RawFormat, WiegandFormat, parse_key
from tests.osdp.support import bus, reader


def test_a_bus_with_two_readers_and_a_door() -> None:
    config = bus([reader("r-in", 1, "K1", door={"id": "door-1", "contact_input": 0,
                                                "rex_input": 1}),
                  reader("r-out", 2, "K2", direction="out", gate="gate-2",
                         card_format="wiegand34")], tcp_port=4001)
    assert config.gates() == {"gate-1", "gate-2"}
    assert config.doors() == {"door-1"}
    assert config.endpoints() == ["osdp tcp 127.0.0.1:4001"]
    assert [e["id"] for e in config.inventory()] == ["r-in", "r-out"]
    assert config.inventory()[0]["door"] == "door-1"
    assert isinstance(config.readers[1].card_format, WiegandFormat)
    assert config.readers[1].card_format.type == "wiegand34"


@pytest.mark.parametrize(("change", "message"), [
    ({"tcp": None}, "exactly one of serial or tcp"),
    ({"readers": [reader("a", 1, "K"), reader("b", 1, "K")]}, "two readers have address 1"),
    ({"readers": [reader("a", 1, "K"), reader("a", 2, "K")]}, "reader id 'a' is used twice"),
    ({"readers": [reader("gate-1-bus", 1, "K")]}, "also the bus id"),
    ({"readers": [reader("a", 127, "K")]}, "less than or equal to 126"),
    ({"readers": [{**reader("a", 1, "K"), "key": "00112233445566778899aabbccddeeff"}]},
     "valid dictionary"),
    ({"readers": [{**reader("a", 1, "K"), "card_format": {"type": "raw", "length": 26,
                                                         "first_bit": 10, "bit_count": 20}}]},
     "do not fit"),
    ({"readers": [{**reader("a", 1, "K"), "door": {"id": "d", "contact_input": 1,
                                                  "rex_input": 1}}]}, "the same input"),
])
def test_mistakes_are_named(change: dict[str, Any], message: str) -> None:
    data: dict[str, Any] = {"driver": "osdp", "id": "gate-1-bus",
                            "tcp": {"host": "127.0.0.1", "port": 4001},
                            "readers": [reader("a", 1, "K")], **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ValidationError, match=message):
        OsdpBusConfig.model_validate(data)


def test_raw_card_format() -> None:
    config = bus([{**reader("a", 1, "K"), "card_format": {"type": "raw", "first_bit": 1,
                                                         "bit_count": 24}}], tcp_port=4001)
    assert isinstance(config.readers[0].card_format, RawFormat)


@pytest.mark.parametrize(("text", "message"), [
    ("303132333435363738393A3B3C3D3E3F", "public default key"),
    ("0" * 32, "all zeros"),
    ("0011", "4 hex digits, expected 32"),
    ("zz" * 16, "not hexadecimal"),
])
def test_weak_or_broken_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_key(text)


def test_a_key_may_be_written_with_separators() -> None:
    assert parse_key("00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n") == bytes.fromhex(
        "00112233445566778899aabbccddeeff")
