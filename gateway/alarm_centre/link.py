"""One exchange with one of the centre's receivers: a block out, its answer back.

TCP keeps one connection open (a receiver may close it when idle: it is opened again once,
at once); UDP sends a datagram and takes the first answer. An answer that does not come in
time closes the connection (or the UDP socket), so a late answer is never taken for the
next message's. Every failure is a ``LinkError`` saying what happened at which address.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from gateway.alarm_centre.config import Receiver
from gateway.alarm_centre.dc09 import MAX_BLOCK


class LinkError(Exception):
    """The receiver did not answer: refused, closed, silent past the time."""


class ReceiverLink:
    def __init__(self, name: str, receiver: Receiver, answer_within: float) -> None:
        self.name = name
        self.receiver = receiver
        self.answer_within = answer_within
        self.lock = asyncio.Lock()  # one exchange at a time: alarms and test messages share it
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._answers: asyncio.Queue[bytes] = asyncio.Queue()

    async def exchange(self, raw: bytes) -> bytes:
        """Send ``raw`` and return the receiver's answer; raises ``LinkError``."""
        try:
            if self.receiver.transport == "udp":
                return await self._datagram(raw)
            return await self._stream(raw)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise LinkError(f"{self.receiver.url}: {_why(exc)}") from exc
        except TimeoutError:
            await self.close()
            raise LinkError(f"{self.receiver.url}: no answer within "
                            f"{self.answer_within:g} s") from None

    async def _stream(self, raw: bytes) -> bytes:
        fresh = self._writer is None or self._writer.is_closing()
        for attempt in (1, 2):
            if fresh:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.receiver.host, self.receiver.port,
                                            limit=MAX_BLOCK), self.answer_within)
            assert self._reader is not None and self._writer is not None
            try:
                self._writer.write(raw)
                await self._writer.drain()
                answer = await asyncio.wait_for(self._reader.readuntil(b"\r"),
                                                self.answer_within)
                return answer
            except (ConnectionError, asyncio.IncompleteReadError):
                if fresh or attempt == 2:
                    raise
                await self.close()  # the receiver closed an idle connection: open it again
                fresh = True
        raise AssertionError("unreachable")

    async def _datagram(self, raw: bytes) -> bytes:
        if self._udp is None:
            loop = asyncio.get_running_loop()
            self._answers = asyncio.Queue()
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Answers(self._answers),
                remote_addr=(self.receiver.host, self.receiver.port))
        self._udp.sendto(raw)
        answer = await asyncio.wait_for(self._answers.get(), self.answer_within)
        if not answer:
            raise ConnectionRefusedError(111, "refused (port unreachable)")
        return answer

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
        if self._udp is not None:
            self._udp.close()
            self._udp = None


class _Answers(asyncio.DatagramProtocol):
    def __init__(self, answers: asyncio.Queue[bytes]) -> None:
        self.answers = answers

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.answers.put_nowait(data[:MAX_BLOCK + 1])

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: down
        self.answers.put_nowait(b"")


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the receiver closed the connection"
    if isinstance(exc, asyncio.LimitOverrunError):
        return f"an answer longer than {MAX_BLOCK} bytes"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"
