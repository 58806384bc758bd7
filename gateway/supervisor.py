"""Runs every part of the gateway on its own and brings back one that fails, with jittered backoff.

A part is whatever the composition root runs until the gateway stops: a driver, the outbox's
hand-over, a command worker, the console, a loop. Its contract (``Part``) is small: ``run``
starts it and returns only if it stops by itself; cancelling it stops it; ``stop`` (optional)
drains it when the gateway stops; and a part that can hang says how long it may stay silent
while busy (``stall_after``), beating its ``Pulse`` as it works.

A part that raises, stops by itself or stalls is logged once with its name and why, counted
(``on_failure``: the metric), shown in ``parts()`` (the retained status, the console) and
started again after 1 s, doubling to 60 s (afresh once it has run a minute). The other parts
never notice; the outbox, on the alarm path, is started again sooner (``Part.backoff``).
Only ``Fatal`` (the state database failed) ends the gateway: every part is
stopped and ``Fatal`` is raised to the caller, so the process exits non-zero and systemd starts
it again. Device actions are routed here by device id (``execute``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway.kernel.ports import ActionError, DeviceUnavailable, Driver

log = logging.getLogger(__name__)

M = TypeVar("M")

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
HEALTHY_AFTER = 60.0  # a part that ran this long before failing starts its backoff afresh
WATCH_EVERY = 0.5  # how often stalls are looked for


class Fatal(Exception):
    """A failure the gateway cannot go on with (its state database): the process exits."""


class Pulse:
    """A part's sign of life: ``beat`` while it works, ``rest`` while it waits for work (a
    resting part is never stalled). Fresh for every start of the part."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._resting = False

    def beat(self) -> None:
        self._last = time.monotonic()
        self._resting = False

    def rest(self) -> None:
        self._resting = True

    def silent_for(self) -> float:
        return 0.0 if self._resting else time.monotonic() - self._last


@dataclass
class Part:
    """One supervised part: ``run(pulse)`` until cancelled, ``stop()`` to drain at the end."""

    name: str
    run: Callable[[Pulse], Coroutine[Any, Any, None]]
    kind: str = "service"
    stop: Callable[[], Awaitable[None]] | None = None
    stall_after: float | None = None
    backoff: tuple[float, float] = (FIRST_BACKOFF, MAX_BACKOFF)  # first and longest wait


@dataclass
class PartHealth:
    name: str
    kind: str
    state: str = "starting"  # running, restarting (waiting out its backoff), stopped
    failures: int = 0
    last_error: str = ""
    last_failure: str | None = None  # ISO time
    since: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def view(self) -> dict[str, Any]:
        return dict(vars(self))


def resident(start: Callable[[], object]) -> Callable[[Pulse], Coroutine[Any, Any, None]]:
    """The ``run`` of a part that lives in a thread of its own (paho's, prometheus-client's):
    started, then only cancelled."""

    async def run(_pulse: Pulse) -> None:
        start()
        await asyncio.Event().wait()

    return run


class Supervisor:
    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._health: dict[str, PartHealth] = {}
        self._drivers: dict[str, Driver] = {}
        self._pulses: dict[str, Pulse] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stalled: set[str] = set()
        self._fatal: Fatal | None = None
        self._ended = asyncio.Event()
        self.on_failure: Callable[[str, str], None] = lambda part, reason: None
        self.on_change: Callable[[], None] = lambda: None

    def add(self, part: Part) -> None:
        if part.name in self._health:
            raise ValueError(f"two parts named {part.name!r}")
        self._parts.append(part)
        self._health[part.name] = PartHealth(part.name, part.kind)

    def add_driver(self, driver: Driver, stall_after: float | None = None) -> None:
        """A driver as a part; ``stall_after`` for one whose polls ``beat`` its pulse."""
        self._drivers[driver.device_id] = driver
        self.add(Part(f"driver {driver.device_id}", lambda _pulse: driver.run(), kind="driver",
                      stall_after=stall_after))

    def beat(self, name: str) -> None:
        """A sign of life of part ``name`` from outside it (a driver's poll, seen on the bus)."""
        pulse = self._pulses.get(name)
        if pulse is not None:
            pulse.beat()

    def driver(self, device_id: str) -> Driver | None:
        """The driver of a device (the console's live views ask a camera's for pictures)."""
        return self._drivers.get(device_id)

    @property
    def drivers(self) -> int:
        return len(self._drivers)

    def parts(self) -> list[dict[str, Any]]:
        """Every part's health, in the order they were added: name, kind, state, failures,
        last error and when, since when in this state."""
        return [self._health[p.name].view() for p in self._parts]

    def status(self) -> dict[str, Any]:
        """For the retained status: how many parts run, and every part that ever failed."""
        health = self._health.values()
        return {"total": len(self._health),
                "running": sum(1 for h in health if h.state == "running"),
                "failed": {h.name: {"state": h.state, "failures": h.failures,
                                    "last_error": h.last_error, "last_failure": h.last_failure}
                           for h in health if h.failures}}

    async def run(self, stop: asyncio.Event) -> None:
        """Every part until ``stop`` is set (or a part fails fatally), then each part's ``stop``
        in the reverse order of adding; ``Fatal`` is raised after that."""
        keepers = [asyncio.create_task(self._keep_running(p), name=f"keep {p.name}")
                   for p in self._parts]
        watchdog = asyncio.create_task(self._watch(), name="watchdog")
        ended = asyncio.create_task(self._ended.wait())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([ended, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*keepers, watchdog, ended, stopping):
                task.cancel()
            await asyncio.gather(*keepers, watchdog, ended, stopping, return_exceptions=True)
            for part in reversed(self._parts):
                self._set(part.name, "stopped")
                if part.stop is not None:
                    try:
                        await part.stop()
                    except Exception:
                        log.exception("%s: failed while stopping", part.name)
        if self._fatal is not None:
            raise self._fatal

    async def _keep_running(self, part: Part) -> None:
        first, longest = part.backoff
        backoff = first
        while True:
            pulse = self._pulses[part.name] = Pulse()
            started = time.monotonic()
            task = self._running[part.name] = asyncio.create_task(part.run(pulse), name=part.name)
            self._set(part.name, "running")
            error: BaseException | None = None  # its traceback is logged
            try:
                await task
                reason, problem = "stopped", "stopped by itself"
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():  # the gateway stops
                    task.cancel()
                    raise
                if part.name in self._stalled:
                    reason, problem = "stalled", (f"no sign of life for {part.stall_after:g} s "
                                                  "while busy")
                else:
                    reason, problem = "stopped", "cancelled from inside"
            except Fatal as exc:
                log.critical("%s: %s; the gateway stops", part.name, exc)
                self._fatal = exc
                self._ended.set()
                return
            except DeviceUnavailable as exc:  # a reason the part states: one line is enough
                reason, problem = "unavailable", str(exc)
            except Exception as exc:
                reason, problem, error = "raised", f"{type(exc).__name__}: {exc}", exc
            finally:
                self._running.pop(part.name, None)
                self._stalled.discard(part.name)
            if time.monotonic() - started > HEALTHY_AFTER:
                backoff = first
            delay = backoff * random.uniform(0.8, 1.2)
            log.error("%s: %s; starting it again in %.1f s", part.name, problem, delay,
                      exc_info=error, extra=self._context(part))
            self._failed(part.name, reason, problem)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, longest)

    async def _watch(self) -> None:
        """Cancels a part that has been silent while busy for longer than it may be."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            for part in self._parts:
                pulse, task = self._pulses.get(part.name), self._running.get(part.name)
                if (part.stall_after is None or pulse is None or task is None
                        or pulse.silent_for() <= part.stall_after):
                    continue
                self._stalled.add(part.name)
                task.cancel()

    @staticmethod
    def _context(part: Part) -> dict[str, Any]:
        device = part.name.removeprefix("driver ") if part.kind == "driver" else None
        return {"part": part.name, **({"device": device} if device else {})}

    def report(self, name: str, exc: BaseException) -> None:
        """A failure inside a part that goes on (one of its reactions or listeners failed):
        logged once, counted and shown like any other; there is nothing to start again."""
        log.error("%s failed", name, exc_info=exc, extra={"part": name})
        self._failed(name, "raised", f"{type(exc).__name__}: {exc}", state="running")

    def watched(self, name: str, listener: Callable[[M], None]) -> Callable[[M], None]:
        """A bus listener of part ``name``: what it raises is reported against the part."""
        def listen(message: M) -> None:
            try:
                listener(message)
            except Exception as exc:
                self.report(name, exc)
        return listen

    def _failed(self, name: str, reason: str, problem: str, state: str = "restarting") -> None:
        health = self._health[name]
        health.failures += 1
        health.last_error = problem[:1024]
        health.last_failure = datetime.now(UTC).isoformat()
        try:
            self.on_failure(name, reason)
        except Exception:
            log.exception("%s: its failure could not be counted", name)
        if health.state == state:
            self._changed()  # the count and the error changed, the state did not
        self._set(name, state)

    def _set(self, name: str, state: str) -> None:
        health = self._health[name]
        if health.state == state:
            return
        health.state, health.since = state, datetime.now(UTC).isoformat()
        if health.failures:  # the status shows parts that failed: say how each one is now
            self._changed()

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception:  # the status is news about failures: never a failure of its own
            log.exception("the status could not be refreshed")

    async def execute(self, device_id: str, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        driver = self._drivers.get(device_id)
        if driver is None:
            raise ActionError(f"no device {device_id!r}")
        try:
            return await driver.execute(action, args)
        except (ActionError, asyncio.CancelledError, TimeoutError):
            raise
        except Exception as exc:  # a driver's defect: every caller (linkage, sirens, commands)
            log.exception("%s: action %s failed", device_id,  # sees a refusal it handles
                          action, extra={"device": device_id})
            raise ActionError(f"{device_id}: {action} failed: {type(exc).__name__}: "
                              f"{exc}") from exc
