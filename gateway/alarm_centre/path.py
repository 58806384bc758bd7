"""The path to the alarm receiving centre: a supervised part that sends alarm changes as DC-09
messages and watches every receiver with test messages.

It is one more consumer of alarm changes (``alarm_changed`` on the bus): a raised (or
reactivated) alarm whose condition is in the code table becomes an event message, its reset
(the alarm closed) the restore; drills stay at the school. Each message goes into the queue in
the change's own transaction and leaves it only when a receiver ACKs it (``queue``).

Messages go to the first receiver that answers, primary first. Every receiver gets a test
(NULL) message when it has acknowledged nothing for ``supervision`` seconds; one that leaves
``attempts`` tries in a row unacknowledged (no answer in time, refused, NAK, DUH) is failed:
``campus.alarm_path.failed`` is raised (an alarm of the gateway at the console and on MQTT)
and messages go to the next receiver. When it acknowledges again, ``alarm_path.restored``
ends the alarm and messages go back to it. A NAK whose time says the clocks differ by more
than DC-09's window is no failure: the receiver's clock is taken (reported in the status and
the log) and the message sent again with a time it takes.
"""

from __future__ import annotations

import asyncio
import logging
import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.alarm_centre import dc09
from gateway.alarm_centre.config import AlarmCentre
from gateway.alarm_centre.dc09 import Block, BlockError
from gateway.alarm_centre.link import LinkError, ReceiverLink
from gateway.alarm_centre.queue import CentreQueue, Queued, Writer
from gateway.alarm_centre.reports import Report, cid_data, sia_data
from gateway.bus import AlarmChanged
from gateway.kernel.events import (
    ALARM_CLOSED,
    ALARM_PATH_FAILED,
    ALARM_PATH_RESTORED,
    ALARM_RAISED,
    ALARM_REACTIVATED,
    AlarmPathState,
    Event,
    Severity,
)
from gateway.supervisor import Pulse

log = logging.getLogger(__name__)

CLOCK_TOLERANCE = 5.0  # seconds between the centre's clock and ours that are not a drift


class Refused(Exception):
    """The receiver answered, but not with an ACK for this message."""


@dataclass
class ReceiverState:
    link: ReceiverLink
    state: str = "unknown"  # up, failed
    failures: int = 0
    reason: str = ""
    last_ack: float = 0.0  # monotonic
    last_ack_at: str | None = None


class AlarmCentrePath:
    def __init__(self, config: AlarmCentre, database: Path, writer: Writer,
                 emit: Callable[[Event], None], gateway_id: str,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.queue = CentreQueue(database, writer)
        self._emit = emit
        self._gateway = gateway_id
        self._on_change = on_change
        self._codes = config.code_table()
        self._receivers = [ReceiverState(ReceiverLink(name, receiver, config.answer_within))
                           for name, receiver in zip(config.receiver_names(), config.receivers,
                                                     strict=True)]
        self._key: bytes | None = None
        self._wake = asyncio.Event()
        self._announced = False
        self.clock_offset = 0.0  # the centre's clock minus ours, once a NAK told it

    # -- alarm changes, on the bus -------------------------------------------------------

    def alarm_changed(self, change: AlarmChanged) -> None:
        alarm = change.alarm
        if alarm.drill or change.kind not in (ALARM_RAISED, ALARM_REACTIVATED, ALARM_CLOSED):
            return
        code = self._codes.get(alarm.condition)
        restore = change.kind is ALARM_CLOSED
        if code is None or (restore and code.restore is None):
            return
        text = " ".join(p for p in (alarm.zone, f"{alarm.device_id}/{alarm.point}",
                                    alarm.location) if p)
        self._put(Report(alarm.condition, restore, self.config.zones.get(alarm.zone, 0), text),
                  life_safety=alarm.severity is Severity.CRITICAL,
                  what=f"{alarm.condition} {'reset' if restore else 'raised'} at "
                       f"{alarm.device_id}/{alarm.point} ({alarm.alarm_id})")

    def _put(self, report: Report, life_safety: bool, what: str) -> Queued:
        code = self._codes[report.condition]
        write = sia_data if self.config.protocol == "SIA-DCS" else cid_data
        data = write(self.config.account, report, code, self.config.group)
        item = self.queue.put(life_safety, self.now(), self.config.protocol, data, what)
        self._wake.set()
        return item

    def now(self) -> datetime:
        """The time a message is stamped with: ours, or the centre's once it told us."""
        return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self.clock_offset)

    # -- the part ------------------------------------------------------------------------

    async def run(self, _pulse: Pulse) -> None:
        """Until cancelled: the sender and a watch over each receiver. A key that cannot be
        read fails the part (reported, tried again with backoff)."""
        if self.config.key is not None:
            self._key = dc09.aes_key(self.config.key.read())
        self._wake = asyncio.Event()
        if not self._announced and "startup" in self._codes:  # once per start of the gateway
            self._put(Report("startup", False, 0, f"gateway {self._gateway} started"),
                      life_safety=False, what=f"gateway {self._gateway} started")
            self._announced = True
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._send())
                for receiver in self._receivers:
                    tasks.create_task(self._watch(receiver))
        finally:
            for receiver in self._receivers:
                await receiver.link.close()

    async def _send(self) -> None:
        while True:
            item = self.queue.next()
            receiver = next((r for r in self._receivers if r.state != "failed"), None)
            if item is None or receiver is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._deliver(receiver, item)
            except (LinkError, Refused) as exc:
                self._failed_try(receiver, str(exc))
            else:
                self.queue.done(item)
                log.info("alarm centre: %s acknowledged by %s (sequence %04d)", item.what,
                         receiver.link.name, item.sequence)

    async def _deliver(self, receiver: ReceiverState, item: Queued) -> None:
        for _ in range(2):  # a second time only with the centre's clock, after a NAK
            block = Block(item.message, item.sequence, self.config.account,
                          self.config.receiver_number, self.config.line_number, item.data,
                          time=item.time)
            answer = await self._exchange(receiver, block)
            if answer.id == "NAK" and self._clock_from(answer, block):
                item = self.queue.restamp(item, self.now())
                continue
            self._acknowledged(receiver, block, answer)
            return
        raise Refused(f"{receiver.link.receiver.url}: NAK again with the centre's time")

    async def _watch(self, receiver: ReceiverState) -> None:
        """A test message whenever the receiver has acknowledged nothing for ``supervision``;
        at once again after a try that failed, until it counts as failed."""
        while True:
            quiet = clock.monotonic() - receiver.last_ack
            wait = self.config.supervision - quiet
            if receiver.failures and receiver.state != "failed":
                wait = 0.0
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            block = Block("NULL", self.queue.take_sequence(), self.config.account,
                          self.config.receiver_number, self.config.line_number, "",
                          time=self.now())
            try:
                answer = await self._exchange(receiver, block)
                if answer.id == "NAK" and self._clock_from(answer, block):
                    continue
                self._acknowledged(receiver, block, answer)
            except (LinkError, Refused) as exc:
                self._failed_try(receiver, str(exc))
                if receiver.state == "failed":
                    await asyncio.sleep(self.config.supervision)

    async def _exchange(self, receiver: ReceiverState, block: Block) -> Block:
        async with receiver.link.lock:
            raw = await receiver.link.exchange(dc09.encode(block, self._key))
        try:
            return dc09.decode(raw, self._key)
        except BlockError as exc:
            raise Refused(f"{receiver.link.receiver.url}: an answer that is not DC-09 "
                          f"({exc.part}: {exc})") from None

    def _acknowledged(self, receiver: ReceiverState, sent: Block, answer: Block) -> None:
        """Raises ``Refused`` unless ``answer`` is the ACK of ``sent``."""
        url = receiver.link.receiver.url
        if answer.id == "DUH":
            raise Refused(f"{url}: DUH: the receiver does not take account "
                          f"{self.config.account}'s {sent.id} (unknown account or data)")
        if answer.id == "NAK":
            raise Refused(f"{url}: NAK (the receiver refused the message: its CRC, format, "
                          "key or time)")
        if answer.id != "ACK" or answer.sequence != sent.sequence or (
                answer.account and answer.account != self.config.account):
            raise Refused(f"{url}: {answer.id} {answer.sequence:04d} #{answer.account} is not "
                          f"the ACK of {sent.sequence:04d}")
        self._answered(receiver)

    def _clock_from(self, nak: Block, sent: Block) -> bool:
        """Whether a NAK's time says our stamp was outside the receiver's window; if so the
        centre's clock is taken for every message from now on."""
        if nak.time is None or sent.time is None or dc09.in_window(sent, nak.time):
            return False
        offset = (nak.time - datetime.now(UTC)).total_seconds()
        if abs(offset - self.clock_offset) > CLOCK_TOLERANCE:
            log.warning("alarm centre: the receiver's clock differs from the gateway's by "
                        "%+.0f s (its NAK carried %s); messages now carry the centre's time",
                        offset, nak.time.isoformat())
            self.clock_offset = offset
            self._on_change()
        else:  # the clocks agree: the message waited (an outage, a restart) past the window
            log.info("alarm centre: sequence %04d of %s is sent again with a fresh time",
                     sent.sequence, sent.time.isoformat())
        return True

    def _answered(self, receiver: ReceiverState) -> None:
        receiver.failures, receiver.reason = 0, ""
        receiver.last_ack = clock.monotonic()
        receiver.last_ack_at = datetime.now(UTC).isoformat()
        previous, receiver.state = receiver.state, "up"
        if previous == "failed":
            log.warning("alarm centre: %s acknowledges again", receiver.link.name)
            self._tell(ALARM_PATH_RESTORED, receiver, Severity.INFO)
            self._wake.set()  # messages go back to it if it comes first
        elif previous == "unknown":
            self._on_change()

    def _failed_try(self, receiver: ReceiverState, reason: str) -> None:
        receiver.failures += 1
        receiver.reason = reason
        if receiver.failures < self.config.attempts or receiver.state == "failed":
            return
        receiver.state = "failed"
        log.error("alarm centre: %s failed after %d tries: %s", receiver.link.name,
                  receiver.failures, reason)
        self._tell(ALARM_PATH_FAILED, receiver, Severity.MAJOR)
        self._wake.set()  # what waits goes to the next receiver

    def _tell(self, kind: Any, receiver: ReceiverState, severity: Severity) -> None:
        active = next((r.link.name for r in self._receivers if r.state != "failed"), "")
        self._emit(Event(kind, self._gateway, AlarmPathState(
            receiver=receiver.link.name, url=receiver.link.receiver.url, reason=receiver.reason,
            active=active, queued=len(self.queue)), severity, receiver.link.name))
        self._on_change()

    # -- what the status says ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """For the retained status and the console: which receivers answer, where alarms go."""
        active = next((r.link.name for r in self._receivers if r.state != "failed"), None)
        return {
            "up": any(r.state == "up" for r in self._receivers),
            "active": active,
            "queued": len(self.queue),
            "category": self.config.category(),
            "clock_offset_s": round(self.clock_offset),
            "receivers": {r.link.name: {"url": r.link.receiver.url, "state": r.state,
                                        "last_ack": r.last_ack_at, "reason": r.reason}
                          for r in self._receivers},
        }
