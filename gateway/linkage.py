"""Linkage: when an alarm is raised, drive the outputs the site file names (GB 50166: within 3 s).

Each rule's actions run at once, each written and read back; the outcome is one
``campus.linkage.executed`` event. An action that fails (device offline, write refused, read-back
differs) makes that event ``ok: false``, which the alarm service turns into a ``linkage_failed``
alarm: a failed linkage is an alarm a person must see, not a log line. A rule with
``lockdown: true`` also starts a lockdown (``gateway.access.modes``), in a drill too: that is
what a lockdown drill practises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from drivers import ActionError
from gateway.bus import AlarmChanged
from gateway.config import LinkageAction, LinkageRule
from gateway.events import (
    ALARM_RAISED,
    LINKAGE_EXECUTED,
    AlarmSnapshot,
    Event,
    LinkageOutcome,
    OutputChange,
    Severity,
    utcnow,
)

log = logging.getLogger(__name__)

ACTION_TIMEOUT = 2.5  # leaves room inside the 3 s the standard allows

Execute = Callable[[str, str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


class Linkage:
    def __init__(self, rules: list[LinkageRule], execute: Execute, emit: Callable[[Event], None],
                 gateway_id: str, lockdown: Callable[[str, str], object] | None = None) -> None:
        self._rules = rules
        self._lockdown = lockdown
        self._execute = execute
        self._emit = emit
        self._gateway_id = gateway_id
        self._tasks: set[asyncio.Task[None]] = set()

    def alarm_changed(self, change: AlarmChanged) -> None:
        if change.kind is not ALARM_RAISED:
            return
        alarm = change.alarm
        for rule in self._rules:
            if alarm.condition in rule.when.conditions and (
                    not rule.when.zones or alarm.zone in rule.when.zones):
                if rule.lockdown and self._lockdown is not None:
                    self._lockdown(f"linkage {rule.name}",
                                   f"{alarm.condition} alarm {alarm.alarm_id} in {alarm.zone}")
                if not rule.do:
                    continue
                task = asyncio.get_running_loop().create_task(self._run(rule, alarm))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run(self, rule: LinkageRule, alarm: AlarmSnapshot) -> None:
        reason = f"linkage {rule.name} for alarm {alarm.alarm_id}"
        results = await asyncio.gather(*(self._act(a, reason) for a in rule.do))
        ok = all(not r.error and r.confirmed == r.requested for r in results)
        outcome = LinkageOutcome(
            rule=rule.name, alarm_id=alarm.alarm_id, zone=alarm.zone, ok=ok,
            seconds_after_alarm=round((utcnow() - alarm.raised_at).total_seconds(), 3),
            actions=list(results))
        if not ok:
            log.error("linkage %s failed: %s", rule.name,
                      "; ".join(f"{r.output}: {r.error}" for r in results if r.error))
        self._emit(Event(LINKAGE_EXECUTED, self._gateway_id, outcome,
                         Severity.INFO if ok else Severity.MAJOR, rule.name))

    async def _act(self, action: LinkageAction, reason: str) -> OutputChange:
        try:
            result = await asyncio.wait_for(
                self._execute(action.device, "output",
                              {"name": action.output, "on": action.set, "reason": reason}),
                ACTION_TIMEOUT)
            return OutputChange.model_validate({**result, "device": action.device})
        except (ActionError, TimeoutError) as exc:
            return OutputChange(output=action.output, device=action.device, address=-1,
                                requested=action.set, confirmed=None, reason=reason,
                                error=str(exc) or "no answer within "
                                f"{ACTION_TIMEOUT} s")

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
