"""What ``campus-gateway doctor`` asks of the path to the centre: the key can be read and is
an AES key, and each receiver acknowledges a test (NULL) message, as the gateway will send it.

The test message has sequence number 0000, so it takes no number from the gateway's own
sequence (a running gateway goes on undisturbed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

from gateway.alarm_centre import dc09
from gateway.alarm_centre.config import AlarmCentre
from gateway.alarm_centre.dc09 import Block, BlockError
from gateway.alarm_centre.link import LinkError, ReceiverLink
from gateway.kernel.fields import ConfigError


def examine(config: AlarmCentre) -> Iterator[tuple[str, str, str]]:
    """(status ok/warn/FAIL, what, detail) for the key and for each receiver."""
    key = None
    if config.key is None:
        yield ("warn", "alarm centre key", "none: messages to the centre are not encrypted "
               "(DC-09 asks for AES where the path crosses a public network)")
    else:
        try:
            key = dc09.aes_key(config.key.read())
        except (ConfigError, ValueError) as exc:
            yield ("FAIL", "alarm centre key", str(exc))
            return
        yield ("ok", "alarm centre key", f"AES-{len(key) * 8}")
    for name, receiver in zip(config.receiver_names(), config.receivers, strict=True):
        what = f"alarm centre {name}"
        try:
            answer = asyncio.run(_test_message(config, ReceiverLink(name, receiver,
                                                                    config.answer_within), key))
        except (LinkError, BlockError) as exc:
            yield ("FAIL", what, f"{receiver.url}: {exc}")
            continue
        if answer.id == "ACK":
            yield ("ok", what, f"{receiver.url} acknowledged a test message for account "
                               f"{config.account}")
        else:
            detail = {"DUH": "the receiver does not take this account (DUH)",
                      "NAK": "the receiver refused the test message (NAK: key or clock)"}
            yield ("FAIL", what, f"{receiver.url}: "
                                 f"{detail.get(answer.id, f'answered {answer.id}')}")


async def _test_message(config: AlarmCentre, link: ReceiverLink, key: bytes | None) -> Block:
    block = Block("NULL", 0, config.account, config.receiver_number, config.line_number,
                  time=datetime.now(UTC).replace(microsecond=0))
    try:
        return dc09.decode(await link.exchange(dc09.encode(block, key)), key)
    finally:
        await link.close()
