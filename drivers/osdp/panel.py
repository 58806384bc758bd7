"""libosdp's Control Panel in a thread of its own, and the bridge to the event loop.

Every call into libosdp happens in the panel thread: ``refresh`` every ``INTERVAL`` and, between
refreshes, the work the loop hands over with ``call`` (commands, flags, enabling a reader). The
loop never takes a lock and never waits on libosdp; the thread never touches asyncio objects
except through ``loop.call_soon_threadsafe``. libosdp's callbacks (events, notifications,
command completions) run inside ``refresh``, in the panel thread.

Two guards live here, where they act before the loop could: a reader that comes online
without the secure channel (possible only while ``install_key`` has lifted the enforcement) is
disabled at once, and events from a reader whose secure channel is not active are dropped.

A reader libosdp takes offline is disabled here at once, so libosdp's own retry (300 s later)
never runs; the driver enables it again on its own schedule (``retry``).

The panel uses ``osdp_sys`` (the C extension) rather than ``osdp.ControlPanel``: the wrapper
copies every event into a queue nobody reads, which grows without bound in a daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import osdp_sys  # type: ignore[import-not-found]
from osdp import Capability, Event, EventNotification, LibFlag

from drivers.osdp.link import BusLink
from drivers.osdp.wire import offline_reason

log = logging.getLogger(__name__)

INTERVAL = 0.005  # between refreshes; one bus exchange needs one or two
T = TypeVar("T")
Ctx = Any  # osdp_sys.ControlPanel


class PanelListener(Protocol):
    """What the driver hears from the panel; always called in the event loop."""

    def reader_online(self, index: int) -> None: ...

    def reader_offline(self, index: int, kind: str, reason: str) -> None: ...

    def reader_event(self, index: int, event: dict[str, Any]) -> None: ...

    def secure_channel(self, index: int, active: bool, default_key: bool) -> None: ...


@dataclass(frozen=True)
class Member:
    address: int
    key: bytes
    name: str


@dataclass
class Timing:
    """How long refreshes take (seconds), for the figures the driver logs."""

    count: int = 0
    total: float = 0.0
    longest: float = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.longest = max(self.longest, seconds)


class Panel:
    def __init__(self, name: str, link: BusLink, members: list[Member],
                 listener: PanelListener, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.link = link
        self.members = members
        self.timing = Timing()
        self._listener = listener
        self._loop = loop
        self._ctx: Ctx = self._context(members)
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: list[deque[asyncio.Future[bool]]] = [deque() for _ in members]
        self._was_online = [False] * len(members)
        self._held = [False] * len(members)  # disabled by us, waiting for a retry
        self._submitted: set[asyncio.Future[bool]] = set()
        self._thread = threading.Thread(target=self._run, name=f"osdp-cp-{name}", daemon=True)

    def _context(self, members: list[Member]) -> Ctx:
        flags = LibFlag.EnforceSecure | LibFlag.EnableNotification
        infos = [
            {"name": m.name, "address": m.address, "flags": flags, "scbk": m.key,
             "channel": self.link, "version": 0, "model": 0, "vendor_code": 0,
             "serial_number": 0, "firmware_version": 0}
            for m in members
        ]
        ctx = osdp_sys.ControlPanel(infos)
        ctx.set_event_callback(self._on_event)
        ctx.set_command_completion_callback(self._on_completion)
        return ctx

    # --- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and let libosdp go (blocking: call it from a worker thread)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._ctx = None
        for pending in self._pending:
            while pending:
                self._resolve(pending.popleft(), False)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._drain()
            started = time.perf_counter()
            try:
                self._ctx.refresh()  # read each time: ``rekey`` may have replaced it
            except Exception:  # a bug in a callback must not stop the bus
                log.exception("%s: libosdp refresh failed", self.name)
            self.timing.add(time.perf_counter() - started)
            self._drain()
            self._wake.wait(INTERVAL)
            self._wake.clear()

    def _drain(self) -> None:
        while True:
            try:
                work = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                work()
            except Exception:
                log.exception("%s: panel call failed", self.name)

    # --- handing work to the thread -----------------------------------------------------------

    async def call(self, fn: Callable[[Ctx], T]) -> T:
        """Run ``fn(ctx)`` in the panel thread and return its result."""
        future: asyncio.Future[T] = self._loop.create_future()

        def work() -> None:
            try:
                result = fn(self._ctx)
            except Exception as exc:
                self._loop.call_soon_threadsafe(_set_exception, future, exc)
            else:
                self._loop.call_soon_threadsafe(_set_result, future, result)

        self._calls.put(work)
        self._wake.set()
        return await future

    async def command(self, index: int, command: dict[str, Any]) -> bool:
        """Submit a command to one reader; True once the reader acknowledged it."""
        future: asyncio.Future[bool] = self._loop.create_future()

        def work() -> None:
            if self._ctx is None or not self._ctx.submit_command(index, command):
                self._resolve(future, False)
            else:
                self._pending[index].append(future)

        self._calls.put(work)
        self._wake.set()
        return await future

    def submit(self, index: int, command: dict[str, Any]) -> None:
        """Submit a command without waiting for its outcome (feedback that must not wait)."""
        task = asyncio.ensure_future(self.command(index, command))
        self._submitted.add(task)
        task.add_done_callback(self._submitted.discard)
        task.add_done_callback(_ignore_outcome)

    async def retry(self, index: int) -> None:
        """Try a reader again now: (disable and) enable it, with a fresh record of its replies."""
        def work(ctx: Ctx) -> bool:
            self.link.tap.reset(self.members[index].address)
            if ctx.is_pd_enabled(index):
                self._held[index] = True
                self._was_online[index] = False
                ctx.disable_pd(index)
                return False
            self._held[index] = False
            ctx.enable_pd(index)
            return True

        for _ in range(200):
            if await self.call(work):
                return
            await asyncio.sleep(0.02)

    async def set_enforce(self, index: int, enforce: bool) -> None:
        def work(ctx: Ctx) -> None:
            if enforce:
                ctx.set_flag(index, LibFlag.EnforceSecure)
            else:
                ctx.clear_flag(index, LibFlag.EnforceSecure)

        await self.call(work)

    def keyed(self, index: int, key: bytes) -> None:
        """Note the key libosdp now holds for a reader (it took it from an acknowledged
        osdp_KEYSET), so that a later ``rekey`` sets every reader up with the key it has."""
        self.members[index] = replace(self.members[index], key=key)

    async def rekey(self, index: int, key: bytes) -> None:
        """Set one reader up with another key. libosdp takes a reader's key only at setup or
        from an acknowledged osdp_KEYSET (which needs a working secure channel), so the bus gets
        a new libosdp context: every reader sets its secure channel up again (the others come
        back online within a few polls; commands sent meanwhile are not acknowledged)."""
        def work(ctx: Ctx) -> None:
            self.members[index] = replace(self.members[index], key=key)
            for pending in self._pending:
                while pending:
                    self._resolve(pending.popleft(), False)
            self.link.tap.reset(self.members[index].address)
            self._ctx = self._context(self.members)
            self._was_online = [False] * len(self.members)
            self._held = [False] * len(self.members)

        await self.call(work)

    # --- libosdp's callbacks (panel thread) ---------------------------------------------------

    def _secure(self, index: int) -> bool:
        return bool(self._ctx.sc_status() >> index & 1)

    def _on_event(self, index: int, event: dict[str, Any]) -> int:
        try:
            self._dispatch(index, event)
        except Exception:
            log.exception("%s: handling a libosdp event failed", self.name)
        return 0

    def _dispatch(self, index: int, event: dict[str, Any]) -> None:
        if event.get("event") == Event.Notification:
            kind, arg0, arg1 = event.get("type"), event.get("arg0"), event.get("arg1")
            if kind == EventNotification.PeripheralDeviceStatus:
                if arg0:
                    self._came_online(index)
                else:
                    self._went_offline(index)
            elif kind == EventNotification.SecureChannelStatus:
                self._post(self._listener.secure_channel, index, bool(arg0), bool(arg1))
            return
        if not self._secure(index):
            log.warning("%s: dropped an event from reader at address %d: no secure channel",
                        self.name, self.members[index].address)
            return
        self._post(self._listener.reader_event, index, event)

    def _came_online(self, index: int) -> None:
        if not self._secure(index):
            # Only possible while install_key lifted the enforcement: never talk in plaintext.
            self._ctx.set_flag(index, LibFlag.EnforceSecure)
            self._held[index] = True
            self._ctx.disable_pd(index)
            self._post(self._listener.reader_offline, index, "secure_channel",
                       "the reader came online without the secure channel (it does not support "
                       "it, or refused the default key); disconnected, nothing was accepted")
            return
        self._was_online[index] = True
        self._post(self._listener.reader_online, index)

    def _went_offline(self, index: int) -> None:
        for future in list(self._pending[index]):
            self._resolve(future, False)
        self._pending[index].clear()
        self._ctx.flush_commands(index)
        if self._held[index]:
            return  # we disabled it: the reason was told when it went offline
        address = self.members[index].address
        try:
            level, _ = self._ctx.check_capability(index, Capability.CommunicationSecurity)
            capable: bool | None = bool(level & 1)
        except ValueError:
            capable = None
        seen = self.link.tap.seen(address)
        kind, reason = offline_reason(address, seen, self._was_online[index], capable)
        self._was_online[index] = False
        self.link.tap.reset(address)
        self._held[index] = True
        self._ctx.disable_pd(index)  # libosdp would retry after 300 s; the driver decides
        self._post(self._listener.reader_offline, index, kind, reason)

    def _on_completion(self, index: int, command: dict[str, Any], status: int) -> None:
        pending = self._pending[index] if 0 <= index < len(self._pending) else None
        if pending:
            self._resolve(pending.popleft(), status == 0)

    # --- helpers ------------------------------------------------------------------------------

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(fn, *args)

    def _resolve(self, future: asyncio.Future[bool], ok: bool) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_set_result, future, ok)


def _set_result(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _ignore_outcome(task: asyncio.Future[bool]) -> None:
    if not task.cancelled():
        task.exception()


def set_library_log_level(level: int) -> None:
    osdp_sys.set_loglevel(level)
