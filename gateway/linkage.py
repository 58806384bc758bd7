"""Linkage: when an alarm is raised, drive the outputs the site file names (GB 50166: within 3 s)
and act on its cameras (a snapshot, a PTZ preset, a clip). An alarm raised from a camera (its
tamper, crowding, intrusion) gets a snapshot of that camera, tied to the alarm, rule or not.

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
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from gateway.bus import AlarmChanged
from gateway.config import LinkageAction, LinkageRule
from gateway.kernel.events import (
    ALARM_RAISED,
    LINKAGE_EXECUTED,
    AlarmSnapshot,
    CameraAction,
    Event,
    LinkageOutcome,
    OutputChange,
    Severity,
    utcnow,
)
from gateway.kernel.ports import ActionError
from gateway.reactions import Reactions

log = logging.getLogger(__name__)

ACTION_TIMEOUT = 2.5  # leaves room inside the 3 s the standard allows

Execute = Callable[[str, str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


class Linkage:
    def __init__(self, rules: list[LinkageRule], execute: Execute, emit: Callable[[Event], None],
                 gateway_id: str, lockdown: Callable[[str, str], object] | None = None,
                 cameras: frozenset[str] = frozenset()) -> None:
        self._rules = rules
        self._cameras = cameras
        self._lockdown = lockdown
        self._execute = execute
        self._emit = emit
        self._gateway_id = gateway_id
        self.reactions = Reactions("linkage")

    def alarm_changed(self, change: AlarmChanged) -> None:
        if change.kind is not ALARM_RAISED:
            return
        alarm = change.alarm
        if alarm.device_id in self._cameras:  # a camera's own alarm carries its picture
            self._start(self._evidence(alarm))
        for rule in self._rules:
            if alarm.condition in rule.when.conditions and (
                    not rule.when.zones or alarm.zone in rule.when.zones):
                if rule.lockdown and self._lockdown is not None:
                    self._lockdown(f"linkage {rule.name}",
                                   f"{alarm.condition} alarm {alarm.alarm_id} in {alarm.zone}")
                if rule.do:
                    self._start(self._run(rule, alarm))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        self.reactions.start(work)

    async def _evidence(self, alarm: AlarmSnapshot) -> None:
        try:
            await asyncio.wait_for(self._execute(alarm.device_id, "snapshot", {
                "alarm_id": alarm.alarm_id, "reason": f"{alarm.condition} alarm"}),
                ACTION_TIMEOUT)
        except (ActionError, TimeoutError) as exc:
            log.warning("no snapshot for alarm %s of camera %s: %s", alarm.alarm_id,
                        alarm.device_id, exc or "no answer in time")

    async def _run(self, rule: LinkageRule, alarm: AlarmSnapshot) -> None:
        reason = f"linkage {rule.name} for alarm {alarm.alarm_id}"
        outputs = [a for a in rule.do if a.camera is None]
        cameras = [a for a in rule.do if a.camera is not None]
        results, shots = await asyncio.gather(
            asyncio.gather(*(self._act(a, reason) for a in outputs)),
            asyncio.gather(*(self._camera(a, alarm, reason) for a in cameras)))
        ok = (all(not r.error and r.confirmed == r.requested for r in results)
              and all(c.ok for c in shots))
        outcome = LinkageOutcome(
            rule=rule.name, alarm_id=alarm.alarm_id, zone=alarm.zone, ok=ok,
            seconds_after_alarm=round((utcnow() - alarm.raised_at).total_seconds(), 3),
            actions=list(results), camera_actions=list(shots))
        if not ok:
            log.error("linkage %s failed: %s", rule.name, "; ".join(
                [f"{r.output}: {r.error}" for r in results if r.error]
                + [f"{c.camera} {c.action}: {c.error}" for c in shots if not c.ok]))
        self._emit(Event(LINKAGE_EXECUTED, self._gateway_id, outcome,
                         Severity.INFO if ok else Severity.MAJOR, rule.name))

    async def _camera(self, action: LinkageAction, alarm: AlarmSnapshot,
                      reason: str) -> CameraAction:
        """A snapshot or a PTZ preset, within the linkage's time; a clip is started (it takes
        its post-alarm seconds) and tells of itself as ``campus.camera.clip``."""
        assert action.camera is not None
        camera = action.camera
        if action.clip is not None:
            self._start(self._clip(action, alarm, reason))
            return CameraAction(camera=camera, action="clip", ok=True)
        kind = "snapshot" if action.snapshot else "ptz_preset"
        args: dict[str, Any] = {"alarm_id": alarm.alarm_id, "reason": reason}
        if action.ptz_preset is not None:
            args["preset"] = action.ptz_preset
        try:
            result = await asyncio.wait_for(self._execute(camera, kind, args), ACTION_TIMEOUT)
        except (ActionError, TimeoutError) as exc:
            return CameraAction(camera=camera, action=kind,
                                ok=False, preset=action.ptz_preset,
                                error=str(exc) or f"no answer within {ACTION_TIMEOUT} s")
        return CameraAction(camera=camera, action=kind,
                            ok=True, preset=action.ptz_preset,
                            media_id=result.get("media_id"))

    async def _clip(self, action: LinkageAction, alarm: AlarmSnapshot, reason: str) -> None:
        assert action.camera is not None and action.clip is not None
        try:
            await self._execute(action.camera, "clip", {
                "alarm_id": alarm.alarm_id, "pre": action.clip.pre, "post": action.clip.post,
                "reason": reason})
        except ActionError as exc:
            log.error("linkage clip from %s for alarm %s failed: %s", action.camera,
                      alarm.alarm_id, exc)

    async def _act(self, action: LinkageAction, reason: str) -> OutputChange:
        assert action.device is not None and action.output is not None
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
        await self.reactions.wait_idle()
