"""The gateway as OSDP Control Panel of one bus: card and keypad reads become access requests,
decisions become feedback and relay pulses, input and status reports become door and reader
events.

* **Only the secure channel.** Every reader is set up with ``EnforceSecure``: no default key, no
  plaintext, no fallback. A reader that fails it is reported offline with the reason read off
  the wire (``drivers.osdp.wire``) and is tried again after ``key_retry``; the others on the bus
  go on. ``install_key`` is the only way a key is given to a reader, and only when asked.
* **A gate opens only on a decision.** A card (or a PIN, a pass code) is handed to
  ``sink.decide``; the reader's feedback follows the answer, and its relay is pulsed only for a
  grant or an ``open`` action. ``pin_required`` starts a PIN entry at that reader; the PIN goes
  back to ``decide`` with the same card.
* **Nothing blocks the loop.** libosdp runs in the panel thread (``drivers.osdp.panel``), whose
  results come back with ``call_soon_threadsafe``. Each reader has its own worker, so a slow
  decision at one reader never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from osdp import Command, LogLevel, StatusReportType
from osdp import Event as OsdpEvent

from drivers.osdp import feedback
from drivers.osdp.cards import CardError, decode
from drivers.osdp.keys import KeyFileError, next_key_path, read_next_key, replace_key_file
from drivers.osdp.link import BusLink, open_link
from drivers.osdp.models import GateMode, OsdpBusConfig, Signal, parse_key
from drivers.osdp.panel import Member, Panel, set_library_log_level
from drivers.osdp.reader import CLEAR_KEYS, ENTER_KEYS, CardRead, EntryEnd, ReaderSession
from drivers.osdp.wire import LINK, MALFORMED, SECURE_CHANNEL, ReplyTap
from gateway.kernel.access import AccessDecision, AccessRequest, DenyReason
from gateway.kernel.events import (
    DOOR_CLOSED,
    DOOR_EXIT_REQUEST,
    DOOR_OPENED,
    READER_POWER_FAULT,
    READER_POWER_RESTORED,
    READER_SC_DESYNC,
    READER_SC_RESTORED,
    READER_TAMPER,
    READER_TAMPER_RESTORED,
    DoorFact,
    Event,
    EventType,
    ReaderFact,
    Severity,
)
from gateway.kernel.fields import ConfigError
from gateway.kernel.logs import LogLimiter
from gateway.kernel.ports import ActionError, DeviceSink, DeviceUnavailable

log = logging.getLogger(__name__)

MODES: tuple[GateMode, ...] = ("normal", "locked", "free")
ACTIONS = ("open", "gate_mode", "install_key", "rotate_key", "reconnect")
WATCH = 0.2  # how often the link's health is looked at
COMMAND_TIMEOUT = 3.0
# A malformed reply (line noise) makes libosdp drop a reader that answers; the driver takes it
# back at once, unseen, and reports it offline only for this many within SPOILED_WINDOW seconds.
SPOILED_OFFLINE = 3
SPOILED_WINDOW = 60.0
# A reader whose secure channel fails after it worked raises sc_desync: the key it had is refused
# now, or its sessions broke SC_BREAKS times within SC_BREAK_WINDOW seconds (each set up again).
SC_BREAKS = 3
SC_BREAK_WINDOW = 60.0
# A reader that was not polled keeps a card read in its event queue and sends it on the first
# polls after it is back (libosdp's PD does): the read carries no time, so one heard this soon
# after an outage longer than stale_read is taken as made during it.
HELD_WINDOW = 0.5
LIBRARY_LOG_LEVELS = {"emergency": LogLevel.Emergency, "error": LogLevel.Error,
                      "warning": LogLevel.Warning, "info": LogLevel.Info, "debug": LogLevel.Debug}


class OsdpBusDriver:
    def __init__(self, config: OsdpBusConfig, sink: DeviceSink) -> None:
        self.config = config
        self.device_id = config.id
        self._sink = sink
        self._sessions = {r.id: ReaderSession(r, None) for r in config.readers}
        self._by_index: dict[int, ReaderSession] = {}
        self._modes: dict[str, GateMode] = {gate: "normal" for gate in config.gates()}
        self._panel: Panel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._retries: set[asyncio.Future[None]] = set()
        self._warnings = LogLimiter(log)

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        members = self._members()
        if not members:
            raise DeviceUnavailable("no reader on the bus has a usable key")
        set_library_log_level(LIBRARY_LOG_LEVELS[self.config.libosdp_log])
        tap = ReplyTap()
        try:
            link = await open_link(self.config, tap)
        except DeviceUnavailable as exc:
            self._all_offline(f"bus: {exc}")
            raise
        panel = Panel(self.device_id, link, members, self, self._loop)
        self._panel = panel
        self._workers = [asyncio.create_task(self._work(s), name=f"osdp-{s.id}")
                         for s in self._sessions.values() if s.index is not None]
        panel.start()
        log.info("%s: OSDP control panel on %s with %d readers (secure channel enforced)",
                 self.device_id, self.config.endpoints()[0], len(members))
        try:
            await self._watch(link)
        finally:
            self._panel = None
            for task in self._workers:
                task.cancel()
            for session in self._sessions.values():
                session.entry.cancel()
                if session.retry is not None:
                    session.retry.cancel()
                if session.settle is not None:
                    session.settle.cancel()
                if session.steady is not None:
                    session.steady.cancel()
                if session.keying is not None and not session.keying.done():
                    session.keying.set_result(False)
            await asyncio.to_thread(panel.stop)
            link.close()
            timing = panel.timing
            if timing.count:
                log.info("%s: %d libosdp refreshes, %.0f us on average, longest %.0f us",
                         self.device_id, timing.count, timing.total / timing.count * 1e6,
                         timing.longest * 1e6)

    async def _watch(self, link: BusLink) -> None:
        while link.failure is None:
            await asyncio.sleep(WATCH)
            while link.tap.text_cards:
                self._text_card(link.tap.text_cards.pop(0))
        self._all_offline(f"bus: {link.failure}")
        raise DeviceUnavailable(link.failure)

    def _members(self) -> list[Member]:
        members: list[Member] = []
        self._by_index = {}
        for session in self._sessions.values():
            session.online = False
            session.failures = 0
            session.work = asyncio.Queue()
            reader = session.config
            try:
                key = session.pinned or parse_key(reader.key.read())
            except (ConfigError, ValueError) as exc:
                self._tell(session, False, f"no usable key: {exc}")
                session.index = None
                continue
            session.key = key
            session.index = len(members)
            self._by_index[session.index] = session
            members.append(Member(reader.address, key, reader.id))
        return members

    def _all_offline(self, reason: str) -> None:
        for session in self._sessions.values():
            session.online = False
            if session.index is not None:
                self._tell(session, False, reason)

    def _tell(self, session: ReaderSession, online: bool, reason: str) -> None:
        if session.told == (online, reason):
            return
        session.told = (online, reason)
        self._sink.availability(session.id, online, reason)

    # --- what the panel tells (in the loop) ---------------------------------------------------

    def reader_online(self, index: int) -> None:
        session = self._by_index[index]
        assert self._loop is not None
        now = self._loop.time()
        if session.offline_since is not None and now - session.offline_since > \
                self.config.stale_read:
            session.back_at = now
        session.offline_since = None
        session.online = True
        session.secured = True
        session.failures = 0
        if session.keying is not None and not session.keying.done():
            session.keying.set_result(True)
        log.info("%s: reader %s (address %d) online with secure channel", self.device_id,
                 session.id, session.config.address)
        self._tell_online(session)
        self._sc_back(session)
        self._apply_mode(session)
        if session.config.status_query and self._panel is not None:
            for kind in (StatusReportType.Input, StatusReportType.Local):
                self._panel.submit(index, {"command": Command.Status, "type": kind})

    def _tell_online(self, session: ReaderSession) -> None:
        """Online, unless it was reported offline for malformed replies and its line is still
        that noisy: then once a window passes without so many (no flapping at the noise's
        rate; it serves cards meanwhile)."""
        assert self._loop is not None
        if session.settle is not None:
            session.settle.cancel()
            session.settle = None
        if not session.online:
            return
        noisy = session.spoiled_within(self._loop.time(), SPOILED_WINDOW) >= SPOILED_OFFLINE
        if noisy and session.told is not None and not session.told[0]:
            wait = SPOILED_WINDOW - (self._loop.time() - session.spoiled[0]) + 0.01
            session.settle = self._loop.call_later(wait, self._tell_online, session)
            return
        self._tell(session, True, "online, secure channel active")

    def reader_offline(self, index: int, kind: str, reason: str) -> None:
        session = self._by_index[index]
        was_online = session.online
        session.online = False
        shown_online = session.told is not None and session.told[0]
        noisy = False  # already reported offline for malformed replies
        if kind == MALFORMED and session.keying is None:
            assert self._loop is not None
            count = session.spoiled_reply(self._loop.time(), SPOILED_WINDOW)
            noisy = session.told is not None and session.told[1].startswith("malformed")
            if (was_online or shown_online) and count < SPOILED_OFFLINE:
                # one spoiled reply is a dropped reply: the reader answers, so it is set up
                # again at once and stays online for everyone else
                log.warning("%s: reader %s (address %d): dropped %s; setting its secure "
                            "channel up again (%d dropped since start)", self.device_id,
                            session.id, session.config.address, reason,
                            session.dropped_replies)
                self._schedule_retry(session, 0.0)
                return
            reason = f"malformed replies: {count} in {SPOILED_WINDOW:.0f} s; the last: {reason}"
        if session.offline_since is None:
            assert self._loop is not None
            session.offline_since = self._loop.time()
        session.entry.cancel()
        session.entry.credential = None
        session.entry.digits = ""
        if session.keying is not None:
            if not session.keying.done():
                session.keying.set_exception(ActionError(reason))
            return  # install_key is trying: it decides what comes next
        if noisy:  # the noise goes on: counted and summarised, not reported again
            self._warnings.warning(("malformed", session.id), "%s: reader %s (address %d): "
                                   "dropped %s", self.device_id, session.id,
                                   session.config.address, reason)
        else:
            if was_online or session.told != (False, reason):
                log.warning("%s: reader %s (address %d) offline: %s", self.device_id,
                            session.id, session.config.address, reason)
            self._tell(session, False, reason)
        self._sc_failed(session, kind, was_online, reason)
        session.failures += 1
        if kind == SECURE_CHANNEL:
            delay = self.config.key_retry
        elif kind in (LINK, MALFORMED) and was_online:
            delay = 0.2
        else:
            delay = min(self.config.reconnect_max, 2.0 ** min(session.failures - 1, 16))
        self._schedule_retry(session, delay)

    def _sc_failed(self, session: ReaderSession, kind: str, was_online: bool,
                   reason: str) -> None:
        """sc_desync for a reader whose secure channel fails after it worked: refused with the
        key it had a session with, or its sessions keep breaking."""
        assert self._loop is not None
        if kind == SECURE_CHANNEL and session.secured:
            self._desync(session, f"secure channel fails after it worked: {reason}")
        elif kind == LINK and was_online:
            broke = session.session_broke(self._loop.time(), SC_BREAK_WINDOW)
            if broke >= SC_BREAKS:
                self._desync(session, f"its secure session broke {broke} times in "
                                      f"{SC_BREAK_WINDOW:.0f} s")

    def _desync(self, session: ReaderSession, detail: str) -> None:
        if session.steady is not None:
            session.steady.cancel()
            session.steady = None
        if session.desync:
            return
        log.warning("%s: reader %s: sc_desync: %s", self.device_id, session.id, detail)
        if self._sink.report([self._reader_event(session, READER_SC_DESYNC, True, detail)]):
            session.desync = detail

    def _sc_back(self, session: ReaderSession) -> None:
        """A secure session is back: its sc_desync ends, unless its sessions keep breaking
        (then once a window passes without so many breaks, the session still up)."""
        assert self._loop is not None
        if session.steady is not None:
            session.steady.cancel()
            session.steady = None
        if not session.desync or not session.online:
            return
        now = self._loop.time()
        if session.breaks_within(now, SC_BREAK_WINDOW) >= SC_BREAKS:
            wait = SC_BREAK_WINDOW - (now - session.breaks[0]) + 0.01
            session.steady = self._loop.call_later(wait, self._sc_back, session)
            return
        log.info("%s: reader %s: secure session back; sc_desync ends", self.device_id,
                 session.id)
        event = self._reader_event(session, READER_SC_RESTORED, False, "secure session back")
        if self._sink.report([event]):
            session.desync = ""

    def secure_channel(self, index: int, active: bool, default_key: bool) -> None:
        if active and default_key:
            log.info("%s: reader %s: secure channel with the default key (install_key): "
                     "sending its key", self.device_id, self._by_index[index].id)

    def reader_event(self, index: int, event: dict[str, Any]) -> None:
        session = self._by_index[index]
        kind = event.get("event")
        if kind == OsdpEvent.CardRead:
            data, length = event.get("data"), event.get("length")
            if isinstance(data, bytes) and isinstance(length, int):
                assert self._loop is not None
                now = self._loop.time()
                held = session.back_at is not None and now - session.back_at <= HELD_WINDOW
                session.work.put_nowait(CardRead(data, length, now, held))
        elif kind == OsdpEvent.KeyPress:
            data = event.get("data")
            if isinstance(data, bytes):
                self._keys(session, data)
        elif kind == OsdpEvent.Status:
            report = event.get("report")
            if isinstance(report, bytes):
                self._status(session, event.get("type"), report)

    # --- credentials --------------------------------------------------------------------------

    async def _work(self, session: ReaderSession) -> None:
        """One reader's credentials, one at a time, in the order presented."""
        while True:
            item = await session.work.get()
            try:
                if isinstance(item, CardRead):
                    await self._card(session, item)
                else:
                    await self._entry_done(session, item.digits)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: reader %s: handling a credential failed", self.device_id,
                              session.id)

    async def _card(self, session: ReaderSession, read: CardRead) -> None:
        reader = session.config
        try:
            card = decode(reader.card_format, read.data, read.length)
        except CardError as exc:
            self._warnings.warning(("card", session.id, str(exc)),
                                   "%s: reader %s: card not read: %s", self.device_id,
                                   session.id, str(exc))
            self._signal(session, reader.feedback.deny)
            return
        session.entry.cancel()
        session.entry.credential = None
        session.entry.digits = ""
        assert self._loop is not None
        age = self._loop.time() - read.heard
        if read.held or age > self.config.stale_read:
            # a grant now would open the lane for whoever stands there, not the card's holder
            log.warning("%s: reader %s: card read refused as stale (%s)", self.device_id,
                        session.id, "held by the reader while it was offline" if read.held
                        else f"{age:.1f} s old, stale_read {self.config.stale_read:g} s")
            await self._decide(session, card.credential, None, refused="stale")
            self._signal(session, reader.feedback.deny)
            return
        decision = await self._decide(session, card.credential, None)
        if decision.asks_for_pin and reader.pin.enabled:
            session.entry.credential = card.credential
            self._signal(session, reader.feedback.pin_required, at_least=reader.pin.timeout)
            self._arm_entry_timer(session)
            return
        self._answer(session, decision)

    async def _decide(self, session: ReaderSession, credential: str, pin: str | None,
                      refused: DenyReason | None = None) -> AccessDecision:
        reader = session.config
        return await self._sink.decide(AccessRequest(
            device_id=self.device_id, reader=reader.id, gate=reader.gate,
            direction=reader.direction, credential=credential, pin=pin, refused=refused))

    def _answer(self, session: ReaderSession, decision: AccessDecision) -> None:
        reader = session.config
        if not decision.granted:
            self._signal(session, reader.feedback.deny)
            return
        assert self._loop is not None
        session.permit("grant", self._loop.time())
        if reader.relay is not None and self._modes.get(reader.gate) != "free":
            self._send(session, feedback.relay_pulse(reader.relay))
        self._signal(session, reader.feedback.grant)

    # --- keypad -------------------------------------------------------------------------------

    def _keys(self, session: ReaderSession, data: bytes) -> None:
        keypad = session.config.pin
        if not keypad.enabled:
            return
        entry = session.entry
        for key in data:
            if key in ENTER_KEYS:
                digits, entry.digits = entry.digits, ""
                entry.cancel()
                session.work.put_nowait(EntryEnd(digits))
                continue
            if key in CLEAR_KEYS:
                entry.digits = ""
            elif 0x30 <= key <= 0x39 and len(entry.digits) < keypad.max_digits:
                entry.digits += chr(key)
            self._arm_entry_timer(session)

    def _arm_entry_timer(self, session: ReaderSession) -> None:
        assert self._loop is not None
        session.entry.cancel()
        session.entry.timer = self._loop.call_later(session.config.pin.timeout,
                                                    self._entry_timeout, session)

    def _entry_timeout(self, session: ReaderSession) -> None:
        entry = session.entry
        entry.timer = None
        digits, entry.digits = entry.digits, ""
        session.work.put_nowait(EntryEnd(digits))

    async def _entry_done(self, session: ReaderSession, digits: str) -> None:
        """The end of a keypad entry: a PIN for the waiting card, or a pass code."""
        reader = session.config
        entry = session.entry
        credential, entry.credential = entry.credential, None
        long_enough = len(digits) >= reader.pin.min_digits
        if credential is not None:
            if not long_enough:
                self._signal(session, reader.feedback.deny)
                return
            decision = await self._decide(session, credential, digits)
            if decision.asks_for_pin:  # still no good PIN: the entry is over
                decision = AccessDecision(granted=False, reason="pin_wrong")
            self._answer(session, decision)
        elif digits and reader.pin.pass_codes and long_enough:
            decision = await self._decide(session, digits, None)
            self._answer(session, decision if not decision.asks_for_pin
                         else AccessDecision(granted=False, reason="pin_required"))

    # --- status: doors, tamper, power ---------------------------------------------------------

    def _status(self, session: ReaderSession, kind: object, report: bytes) -> None:
        if kind == StatusReportType.Input:
            self._inputs(session, report)
        elif kind == StatusReportType.Local and len(report) >= 2:
            self._local(session, bool(report[0]), bool(report[1]))
        elif kind == StatusReportType.Remote and report:
            self._remote_tamper(session, report[0])

    def _inputs(self, session: ReaderSession, report: bytes) -> None:
        door = session.config.door
        if door is None:
            return
        assert self._loop is not None
        now = self._loop.time()
        events: list[Event] = []
        rex = session.rex
        if door.rex_input is not None and door.rex_input < len(report):
            rex = bool(report[door.rex_input])
            if rex and not session.rex:
                events.append(self._door_event(session, DOOR_EXIT_REQUEST))
        door_open = session.door_open
        if door.contact_input < len(report):
            door_open = bool(report[door.contact_input]) == door.contact_active_open
        else:
            self._warnings.warning(("inputs", session.id), "%s: reader %s reports %d inputs; "
                                   "contact_input %d is not among them", self.device_id,
                                   session.id, len(report), door.contact_input)
        if door_open != session.door_open:
            if door_open:
                if rex and not session.rex:
                    session.permit("exit_request", now)
                free = self._modes.get(session.config.gate) == "free"
                events.append(self._door_event(session, DOOR_OPENED,
                                               session.granted_by(now, free)))
            else:
                events.append(self._door_event(session, DOOR_CLOSED))
        if not self._sink.report(events):
            return  # flooding: the state stays as it was
        if rex and not session.rex:
            session.permit("exit_request", now)
        session.rex = rex
        session.door_open = door_open

    def _door_event(self, session: ReaderSession, kind: EventType, granted_by: str = "") -> Event:
        door = session.config.door
        assert door is not None
        return Event(type=kind, device_id=session.id, subject=door.id, payload=DoorFact(
            door=door.id, gate=session.config.gate, reader=session.id, granted_by=granted_by))

    def _local(self, session: ReaderSession, tamper: bool, power_fault: bool) -> None:
        events: list[Event] = []
        if tamper != session.tamper:
            events.append(self._reader_event(session, READER_TAMPER if tamper
                                             else READER_TAMPER_RESTORED, tamper, "tamper"))
        if power_fault != session.power_fault:
            events.append(self._reader_event(session, READER_POWER_FAULT if power_fault
                                             else READER_POWER_RESTORED, power_fault, "power"))
        if self._sink.report(events):
            session.tamper, session.power_fault = tamper, power_fault

    def _remote_tamper(self, session: ReaderSession, status: int) -> None:
        tamper = status != 0
        if tamper == session.remote_tamper:
            return
        detail = {0: "attached reader normal", 1: "attached reader not connected",
                  2: "attached reader tamper"}.get(status, f"attached reader status {status}")
        event = self._reader_event(session, READER_TAMPER if tamper else READER_TAMPER_RESTORED,
                                   tamper, detail)
        if self._sink.report([event]):
            session.remote_tamper = tamper

    def _reader_event(self, session: ReaderSession, kind: EventType, active: bool,
                      detail: str) -> Event:
        return Event(type=kind, device_id=session.id, subject=session.id,
                     severity=Severity.MAJOR if active else Severity.INFO,
                     payload=ReaderFact(reader=session.id, gate=session.config.gate,
                                        detail=detail))

    # --- commands to readers ------------------------------------------------------------------

    def _send(self, session: ReaderSession, command: dict[str, Any]) -> None:
        if self._panel is not None and session.index is not None and session.online:
            self._panel.submit(session.index, command)

    async def _confirm(self, session: ReaderSession, command: dict[str, Any]) -> str:
        """Send and wait for the reader's acknowledgement; '' or what went wrong."""
        if self._panel is None or session.index is None:
            return f"reader {session.id}: the bus is not connected"
        if not session.online:
            return f"reader {session.id} is offline"
        try:
            ok = await asyncio.wait_for(self._panel.command(session.index, command),
                                        COMMAND_TIMEOUT)
        except TimeoutError:
            return f"reader {session.id} did not acknowledge in time"
        return "" if ok else f"reader {session.id} did not acknowledge the command"

    def _signal(self, session: ReaderSession, signal: Signal, at_least: float = 0.0) -> None:
        if signal.led is not None:
            self._send(session, feedback.led_temporary(signal.led, at_least))
        if signal.buzzer is not None:
            self._send(session, feedback.buzzer(signal.buzzer))

    def _apply_mode(self, session: ReaderSession) -> None:
        reader = session.config
        mode = self._modes.get(reader.gate, "normal")
        if reader.relay is not None:
            self._send(session, feedback.relay_hold(reader.relay, mode == "free"))
        idle = reader.feedback.idle.get(mode)
        if idle is not None:
            self._send(session, feedback.led_permanent(idle))

    def _text_card(self, address: int) -> None:
        session = next((s for s in self._sessions.values() if s.config.address == address), None)
        if session is None:
            return
        self._warnings.warning(("fmt", session.id), "%s: reader %s sent a card as text "
                               "(osdp_FMT), which libosdp ignores: set the reader to raw "
                               "(Wiegand) card output", self.device_id, session.id)
        self._signal(session, session.config.feedback.deny)

    def _schedule_retry(self, session: ReaderSession, delay: float) -> None:
        assert self._loop is not None
        if session.retry is not None:
            session.retry.cancel()
        session.retry = self._loop.call_later(delay, self._retry_now, session)

    def _retry_now(self, session: ReaderSession) -> None:
        session.retry = None
        if self._panel is not None and session.index is not None:
            task = asyncio.ensure_future(self._panel.retry(session.index))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # --- actions ------------------------------------------------------------------------------

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if action == "open":
            return await self._open(self._gate_arg(args))
        if action == "gate_mode":
            gate = self._gate_arg(args)
            mode = args.get("mode")
            if mode not in MODES:
                raise ActionError(f"{self.device_id}: gate_mode: mode must be one of "
                                  f"{', '.join(MODES)} (got {mode!r})")
            return await self._gate_mode(gate, mode)
        if action == "install_key":
            return await self._install_key(self._reader_arg(args))
        if action == "rotate_key":
            return await self._rotate_key(self._reader_arg(args))
        if action == "reconnect":
            session = self._reader_arg(args)
            if self._panel is None or session.index is None:
                raise ActionError(f"{self.device_id}: the bus is not connected")
            if session.retry is not None:
                session.retry.cancel()
                session.retry = None
            await self._panel.retry(session.index)
            return {"reader": session.id, "retrying": True}
        raise ActionError(f"{self.device_id}: unknown action {action!r} "
                          f"(known: {', '.join(ACTIONS)})")

    def _gate_arg(self, args: Mapping[str, Any]) -> str:
        gate = args.get("gate")
        if not isinstance(gate, str) or gate not in self._modes:
            raise ActionError(f"{self.device_id}: no reader of gate {gate!r} on this bus "
                              f"(gates: {', '.join(sorted(self._modes))})")
        return gate

    def _reader_arg(self, args: Mapping[str, Any]) -> ReaderSession:
        name = args.get("reader")
        session = self._sessions.get(name) if isinstance(name, str) else None
        if session is None:
            raise ActionError(f"{self.device_id}: no reader {name!r} on this bus "
                              f"(readers: {', '.join(self._sessions)})")
        return session

    def _gate_readers(self, gate: str) -> list[ReaderSession]:
        return [s for s in self._sessions.values()
                if s.config.gate == gate and s.config.relay is not None]

    async def _open(self, gate: str) -> dict[str, Any]:
        mode = self._modes[gate]
        if mode == "locked":
            raise ActionError(f"{self.device_id}: gate {gate} is locked; set it to normal first")
        readers = self._gate_readers(gate)
        if not readers:
            raise ActionError(f"{self.device_id}: no reader of gate {gate} has a relay")
        if mode == "free":
            return {"gate": gate, "mode": mode, "confirmed": True,
                    "error": "", "readers": [s.id for s in readers]}
        assert self._loop is not None
        for session in readers:
            session.permit("open_action", self._loop.time())
        results = await asyncio.gather(*(self._confirm(s, feedback.relay_pulse(s.config.relay))
                                         for s in readers if s.config.relay is not None))
        errors = [e for e in results if e]
        return {"gate": gate, "mode": mode, "confirmed": not errors, "error": "; ".join(errors),
                "readers": [s.id for s in readers]}

    async def _gate_mode(self, gate: str, mode: GateMode) -> dict[str, Any]:
        self._modes[gate] = mode
        readers = [s for s in self._sessions.values() if s.config.gate == gate]
        for session in readers:
            idle = session.config.feedback.idle.get(mode)
            if idle is not None:
                self._send(session, feedback.led_permanent(idle))
        relays = [s for s in readers if s.config.relay is not None]
        results = await asyncio.gather(*(
            self._confirm(s, feedback.relay_hold(s.config.relay, mode == "free"))
            for s in relays if s.config.relay is not None))
        errors = [e for e in results if e]
        confirmed: bool | None = (not errors) if relays else None
        if errors:
            log.warning("%s: gate %s mode %s not confirmed: %s", self.device_id, gate, mode,
                        "; ".join(errors))
        return {"gate": gate, "mode": mode, "confirmed": confirmed, "error": "; ".join(errors)}

    async def _install_key(self, session: ReaderSession) -> dict[str, Any]:
        """Give a reader in install mode its key from the site file (osdp_KEYSET).

        For this one reader the enforcement is lifted so libosdp may open a secure channel with
        the default key and send the reader its key; it must then come online with a secure
        channel under that key. A reader that would come online in plaintext is disconnected
        by the panel before it is heard. The enforcement is back in every case.
        """
        panel, index = self._panel, session.index
        if panel is None or index is None:
            raise ActionError(f"{self.device_id}: install_key: the bus is not connected"
                              if panel is None else
                              f"{self.device_id}: install_key: reader {session.id} has no "
                              "usable key in the site file")
        if session.online:
            raise ActionError(f"{self.device_id}: reader {session.id} is already online with "
                              "its key")
        if session.keying is not None:
            raise ActionError(f"{self.device_id}: install_key for {session.id} is under way")
        assert self._loop is not None
        if session.retry is not None:
            session.retry.cancel()
            session.retry = None
        session.keying = self._loop.create_future()
        log.warning("%s: install_key: reader %s: the secure channel may use the default key "
                    "for up to %.0f s to install its key", self.device_id, session.id,
                    self.config.install_window)
        error = ""
        try:
            await panel.set_enforce(index, False)
            await panel.retry(index)
            try:
                await asyncio.wait_for(asyncio.shield(session.keying),
                                       self.config.install_window)
            except TimeoutError:
                error = (f"reader {session.id} did not take its key within "
                         f"{self.config.install_window:.0f} s (is it in install mode?)")
            except ActionError as exc:
                error = str(exc)
        finally:
            with contextlib.suppress(Exception):
                await panel.set_enforce(index, True)
            session.keying = None
        installed = not error and session.online
        if installed:
            log.warning("%s: install_key: reader %s has its key; secure channel enforced",
                        self.device_id, session.id)
        else:
            log.warning("%s: install_key: reader %s: %s", self.device_id, session.id, error)
            self._tell(session, False, error)
            with contextlib.suppress(Exception):
                await panel.retry(index)
                await asyncio.sleep(0)
            session.failures = 1
        return {"reader": session.id, "installed": installed, "error": error}


    async def _rotate_key(self, session: ReaderSession) -> dict[str, Any]:
        """Give a reader in a working secure channel the next key from beside its key file
        (osdp_KEYSET inside that channel), and confirm it with a new secure session.

        libosdp takes the new key once the reader acknowledges it and sets the secure channel
        up again with it. If that session does not come, the key that works is found: the old
        one (the reader refused the new key, or acknowledged it and kept the old), else the
        new one (the reader took it and its acknowledgement was lost). The site file's key file
        is replaced only once the new key is proven; the answer says which key is in use.
        """
        panel, index = self._panel, session.index
        if panel is None or index is None or session.key is None:
            raise ActionError(f"{self.device_id}: rotate_key: " + (
                "the bus is not connected" if panel is None else
                f"reader {session.id} has no usable key in the site file"))
        if not session.online:
            raise ActionError(f"{self.device_id}: rotate_key: reader {session.id} is offline; "
                              "a key is changed only inside a working secure channel")
        if session.keying is not None:
            raise ActionError(f"{self.device_id}: a key change for {session.id} is under way")
        secret = session.config.key
        try:
            source = next_key_path(secret, session.id)
            new = await asyncio.to_thread(read_next_key, source)
        except KeyFileError as exc:
            raise ActionError(f"{self.device_id}: rotate_key: {exc}") from None
        old = session.key
        if new == old:
            raise ActionError(f"{self.device_id}: rotate_key: the key in {source} is the key "
                              f"reader {session.id} already uses")
        log.warning("%s: rotate_key: reader %s: sending its new key from %s inside the secure "
                    "channel", self.device_id, session.id, source)
        refused = ""
        outcome = self._await_key(session)
        keyset = {"command": Command.Keyset, "type": 1, "data": new}
        try:
            acknowledged = await asyncio.wait_for(panel.command(index, keyset), COMMAND_TIMEOUT)
        except TimeoutError:
            acknowledged = False
        if acknowledged:
            panel.keyed(index, new)
            if not await self._key_works(session, outcome):
                refused = "it acknowledged the new key but no secure session came with it"
        else:
            # a NAK takes it offline in libosdp, which keeps the old key; so does no answer
            refused = "it refused the new key (NAK) or did not answer"
            outcome.cancel()
        if self._panel is not panel:  # the bus was set up again meanwhile: nothing is known
            raise ActionError(f"{self.device_id}: rotate_key: the bus stopped while reader "
                              f"{session.id} was being given its new key; it has the old or "
                              f"the new one: once the bus is back, rotate again (the new key "
                              f"is still in {source})")
        in_use: bytes | None = new
        if refused:
            in_use = await self._working_key(session, (old, new))
            if in_use is None:  # back to the site file's key, tried again after key_retry
                if panel.members[index].key == old:
                    await panel.retry(index)
                else:
                    await panel.rekey(index, old)
        return self._rotated(session, source, old, new, in_use, refused)

    def _await_key(self, session: ReaderSession) -> asyncio.Future[bool]:
        assert self._loop is not None
        if session.retry is not None:
            session.retry.cancel()
            session.retry = None
        session.keying = self._loop.create_future()
        return session.keying

    async def _key_works(self, session: ReaderSession, outcome: asyncio.Future[bool]) -> bool:
        """Whether the reader comes online with a secure channel (``outcome``) in time."""
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), self.config.install_window)
        except (TimeoutError, ActionError):
            return False
        finally:
            session.keying = None

    async def _working_key(self, session: ReaderSession,
                           keys: tuple[bytes, bytes]) -> bytes | None:
        """The first of ``keys`` the reader sets a secure channel up with, or None."""
        panel, index = self._panel, session.index
        assert panel is not None and index is not None
        for key in keys:
            if self._panel is not panel:
                return None
            outcome = self._await_key(session)
            if session.online and panel.members[index].key == key:
                outcome.set_result(True)  # it never went offline: the key it has works
            elif panel.members[index].key == key:
                await panel.retry(index)
            else:
                await panel.rekey(index, key)
            if await self._key_works(session, outcome):
                return key
        return None

    def _rotated(self, session: ReaderSession, source: Path, old: bytes, new: bytes,
                 in_use: bytes | None, refused: str) -> dict[str, Any]:
        """Keep the key that works (in the key file, or pinned while that cannot be written)
        and say which it is."""
        error = f"reader {session.id}: {refused}" if refused else ""
        if in_use == new and refused:
            error += (", yet it sets a secure channel up only with the new key (its "
                      "acknowledgement was lost): rotated")
        key = {old: "old", new: "new", None: "none"}[in_use]
        secret_file = session.config.key.file
        if in_use == new and secret_file is not None:
            session.key = new
            try:
                replace_key_file(secret_file, new, source)
                session.pinned = None
            except KeyFileError as exc:
                session.pinned = new  # the reader has it: a restart must not go back to the old
                error = "; ".join(filter(None, (error, f"the reader has the new key but {exc}; "
                                                f"the gateway uses it until it restarts: copy "
                                                f"{source} over {secret_file}")))
        elif in_use == old:
            session.key = old
            session.pinned = None
        elif in_use is None:
            error += ("; neither the old nor the new key sets up a secure channel now; the "
                      "gateway keeps the old key")
        log.warning("%s: rotate_key: reader %s: key in use: %s%s", self.device_id, session.id,
                    key, f" ({error})" if error else "")
        return {"reader": session.id, "rotated": in_use == new, "key": key, "error": error}
