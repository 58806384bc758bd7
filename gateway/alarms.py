"""Alarms: the ISA-18.2 lifecycle, latching panic alarms, escalation and reporting deadlines.

A raising fact (panic pressed, line fault, tamper, device offline) opens an alarm keyed by
device/point/condition, or re-activates the open one. The states are active/returned-to-normal x
unacknowledged/acknowledged. A latched alarm (panic, GB 50394) closes only when a person resets it,
and only once its input has returned to normal; a non-latched one closes by itself once it has
returned to normal and been acknowledged. Open alarms and pending report deadlines survive
restarts (SQLite). A closed alarm with a report not yet marked done stays as a follow-up task
(overdue or not) until it is; a closed alarm with nothing left to do moves to the alarm history,
kept ``alarms.history_kept`` (the console searches it; the full record is the event stream's).
"""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import uuid6

from gateway.bus import AlarmChanged
from gateway.config import Alarms as AlarmPolicy
from gateway.kernel.events import (
    ALARM_ACKNOWLEDGED,
    ALARM_CLOSED,
    ALARM_ESCALATED,
    ALARM_PATH_FAILED,
    ALARM_PATH_RESTORED,
    ALARM_POLICE_CALLED,
    ALARM_RAISED,
    ALARM_REACTIVATED,
    ALARM_REPORT_OVERDUE,
    ALARM_REPORTED,
    ALARM_RETURNED,
    CAMERA_EVENT,
    DEVICE_FLOOD_ENDED,
    DEVICE_FLOODING,
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    DOOR_FORCED,
    DOOR_HELD_OPEN,
    DOOR_SECURED,
    FIRE_PANEL_RESET,
    FIRE_RESTORED,
    LINE_FAULT,
    LINE_RESTORED,
    LINKAGE_EXECUTED,
    PANIC_PRESSED,
    PANIC_RELEASED,
    READER_POWER_FAULT,
    READER_POWER_RESTORED,
    READER_SC_DESYNC,
    READER_SC_RESTORED,
    READER_TAMPER,
    READER_TAMPER_RESTORED,
    STORAGE_FULL,
    STORAGE_OK,
    TAMPER,
    TAMPER_RESTORED,
    VIDEO_CLEARED,
    VIDEO_RAISED,
    VISITOR_CLOSED,
    VISITOR_LEFT,
    VISITOR_OVERSTAYED,
    AlarmSnapshot,
    AnalyticFact,
    CameraFact,
    DoorFact,
    Event,
    EventType,
    FireFact,
    LinkageOutcome,
    PanelAction,
    Severity,
    utcnow,
)
from gateway.outbox import StateWrite


@dataclass(frozen=True)
class Condition:
    name: str
    severity: Severity
    latched: bool


PANIC = Condition("panic", Severity.CRITICAL, latched=True)
LINE = Condition("line_fault", Severity.MAJOR, latched=False)
TAMPERED = Condition("tamper", Severity.MAJOR, latched=False)
COMM = Condition("comm_fault", Severity.MAJOR, latched=False)
LINKAGE_FAILED = Condition("linkage_failed", Severity.MAJOR, latched=False)
# Critical: while a device floods, its own alarms (a fire among them, perhaps) wait at the device.
FLOODING = Condition("flooding", Severity.CRITICAL, latched=False)
STORAGE = Condition("storage_full", Severity.MAJOR, latched=False)
# a receiver of the alarm receiving centre stopped acknowledging (gateway.alarm_centre)
ALARM_PATH = Condition("alarm_path", Severity.MAJOR, latched=False)
DOOR_FORCED_OPEN = Condition("door_forced", Severity.MAJOR, latched=False)
DOOR_HELD = Condition("door_held_open", Severity.MINOR, latched=False)
READER_POWER = Condition("reader_power", Severity.MAJOR, latched=False)
SC_DESYNC = Condition("sc_desync", Severity.MAJOR, latched=False)
OVERSTAY = Condition("visitor_overstayed", Severity.MAJOR, latched=False)
CAMERA_TAMPER = Condition("camera_tamper", Severity.MAJOR, latched=False)
# a stairwell crowding is a stampede risk: critical, first in the life-safety lane
CROWDING = Condition("crowding", Severity.CRITICAL, latched=False)
INTRUSION = Condition("intrusion", Severity.MAJOR, latched=False)
VIDEO_CONDITIONS: dict[str, Condition] = {
    "covered": CAMERA_TAMPER, "blinded": CAMERA_TAMPER, "defocused": CAMERA_TAMPER,
    "moved": CAMERA_TAMPER, "crowding": CROWDING, "intrusion": INTRUSION,
    "line_crossed": INTRUSION,
}

# Conditions that several sources report about one thing are one alarm at this point: a
# camera's tamper comes from the camera's own event (its video source) and from the gateway's
# analytics (covered, blinded ...), and a guard must see one covered camera as one alarm. It is
# active while any of its sources says so.
ONE_POINT: dict[str, str] = {CAMERA_TAMPER.name: "view"}

# A fire alarm latches at the panel: it closes when the panel is reset (or a person resets it
# here once it is normal again). Faults and the rest close once normal and acknowledged.
FIRE_CONDITIONS: dict[str, Condition] = {
    "fire": Condition("fire", Severity.CRITICAL, latched=True),
    "pre_alarm": Condition("pre_alarm", Severity.MAJOR, latched=False),
    "fault": Condition("fault", Severity.MAJOR, latched=False),
    "supervisory": Condition("supervisory", Severity.MINOR, latched=False),
    "shielded": Condition("shielded", Severity.MINOR, latched=False),
    "power_fault": Condition("power_fault", Severity.MAJOR, latched=False),
}

# fact type -> (condition, True if it raises / False if it returns to normal)
FACTS: dict[str, tuple[Condition, bool]] = {
    PANIC_PRESSED.name: (PANIC, True),
    PANIC_RELEASED.name: (PANIC, False),
    LINE_FAULT.name: (LINE, True),
    LINE_RESTORED.name: (LINE, False),
    TAMPER.name: (TAMPERED, True),
    TAMPER_RESTORED.name: (TAMPERED, False),
    DEVICE_OFFLINE.name: (COMM, True),
    DEVICE_ONLINE.name: (COMM, False),
    DEVICE_FLOODING.name: (FLOODING, True),
    DEVICE_FLOOD_ENDED.name: (FLOODING, False),
    STORAGE_FULL.name: (STORAGE, True),
    STORAGE_OK.name: (STORAGE, False),
    ALARM_PATH_FAILED.name: (ALARM_PATH, True),
    ALARM_PATH_RESTORED.name: (ALARM_PATH, False),
    READER_TAMPER.name: (TAMPERED, True),
    READER_TAMPER_RESTORED.name: (TAMPERED, False),
    READER_POWER_FAULT.name: (READER_POWER, True),
    READER_POWER_RESTORED.name: (READER_POWER, False),
    READER_SC_DESYNC.name: (SC_DESYNC, True),
    READER_SC_RESTORED.name: (SC_DESYNC, False),
    DOOR_FORCED.name: (DOOR_FORCED_OPEN, True),
    DOOR_HELD_OPEN.name: (DOOR_HELD, True),
    VISITOR_OVERSTAYED.name: (OVERSTAY, True),
    VISITOR_LEFT.name: (OVERSTAY, False),
    VISITOR_CLOSED.name: (OVERSTAY, False),
}

CONDITION_NAMES = frozenset(
    [c.name for c, _ in FACTS.values()] + [c.name for c in VIDEO_CONDITIONS.values()]
    + list(FIRE_CONDITIONS) + [LINKAGE_FAILED.name, CAMERA_TAMPER.name])

REPORT_KINDS = ("first", "written", "general")
_NONE: frozenset[str] = frozenset()
HISTORY_HELD = 20_000  # closed alarms kept for search, whatever history_kept allows


def classify(event: Event) -> tuple[Condition, bool, str] | None:
    """Which alarm condition a fact is about, whether it raises it, and the point."""
    point = event.subject or "device"
    fact = FACTS.get(event.type.name)
    if fact is not None:
        return fact[0], fact[1], point
    if event.type is CAMERA_EVENT and isinstance(event.payload, CameraFact):
        if event.payload.kind != "tamper" or event.payload.active is None:
            return None
        return CAMERA_TAMPER, event.payload.active, point
    if event.type in (VIDEO_RAISED, VIDEO_CLEARED) and isinstance(event.payload, AnalyticFact):
        return VIDEO_CONDITIONS[event.payload.condition], event.type is VIDEO_RAISED, point
    if event.type is DOOR_SECURED and isinstance(event.payload, DoorFact):
        ended = DOOR_FORCED_OPEN if event.payload.ended == "door_forced" else DOOR_HELD
        return ended, False, point
    if isinstance(event.payload, FireFact):
        return (FIRE_CONDITIONS[event.payload.condition], event.type is not FIRE_RESTORED,
                event.payload.point)
    if event.type is LINKAGE_EXECUTED and isinstance(event.payload, LinkageOutcome):
        return LINKAGE_FAILED, not event.payload.ok, event.payload.rule
    return None


class AlarmError(Exception):
    """A request about an alarm that cannot be carried out; the message is for the operator,
    ``reason`` one of REFUSAL_REASONS for a console to say it in the operator's language."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


REFUSAL_REASONS = ("alarm_not_open", "alarm_closed", "alarm_still_active", "no_report_due",
                   "drill_running", "no_drill", "no_fire_alarm", "roll_call_full",
                   "roll_call_not_open")


def _state(active: bool, acknowledged: bool, closed: bool) -> str:
    if closed:
        return "closed"
    return f"{'active' if active else 'rtn'}_{'acknowledged' if acknowledged else 'unacknowledged'}"


class StateWriter(Protocol):
    """Where state changes go to be committed with the events that announce them (the outbox)."""

    def write(self, change: StateWrite) -> None: ...

    def unit(self) -> AbstractContextManager[None]: ...


class AlarmStore:
    """Alarms that are open or still have report deadlines, and the gateway's small state (drill).

    The tables live in the state database beside the outbox. They are read once at start; every
    change is written through the outbox, inside the same ``unit()`` as the alarm events, so the
    store and the stream agree after any crash. A closed alarm with no report pending moves to
    ``alarm_history``, pruned by age and count, so the box's disk stays bounded.
    """

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS alarms (id TEXT PRIMARY KEY, tracked INTEGER NOT NULL,
                                       doc TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, doc TEXT);
    CREATE TABLE IF NOT EXISTS alarm_history (id TEXT PRIMARY KEY, closed_at REAL NOT NULL,
                                              doc TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS alarm_history_by_closing ON alarm_history (closed_at);
    """
    LEGACY = "alarms.sqlite3"  # where versions before 0.2 kept the alarms, in a file of its own

    def __init__(self, path: Path, writer: StateWriter) -> None:
        self._writer = writer
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(self.SCHEMA)
            self._import_legacy(db, path.parent / self.LEGACY)
            self._alarms = [AlarmSnapshot.model_validate_json(doc) for (doc,) in db.execute(
                "SELECT doc FROM alarms WHERE tracked = 1 ORDER BY id")]
            self._values = {key: json.loads(doc) for key, doc in db.execute(
                "SELECT key, doc FROM kv")}
            self._history = [AlarmSnapshot.model_validate_json(doc) for (doc,) in db.execute(
                "SELECT doc FROM (SELECT doc, closed_at FROM alarm_history ORDER BY closed_at "
                "DESC LIMIT ?) ORDER BY closed_at", (HISTORY_HELD,))]
        finally:
            db.close()

    @staticmethod
    def _import_legacy(db: sqlite3.Connection, legacy: Path) -> None:
        if not legacy.exists():
            return
        db.execute("ATTACH DATABASE ? AS legacy", (str(legacy),))
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT OR IGNORE INTO alarms SELECT * FROM legacy.alarms WHERE tracked = 1")
        db.execute("INSERT OR IGNORE INTO kv SELECT * FROM legacy.kv")
        db.execute("COMMIT")
        db.execute("DETACH DATABASE legacy")
        legacy.rename(legacy.with_name(legacy.name + ".imported"))

    def load(self) -> list[AlarmSnapshot]:
        return list(self._alarms)

    def load_history(self) -> list[AlarmSnapshot]:
        """Closed alarms with nothing left to do, oldest closing first."""
        return list(self._history)

    def unit(self) -> AbstractContextManager[None]:
        return self._writer.unit()

    def save(self, alarm: AlarmSnapshot, tracked: bool) -> None:
        if tracked:
            self._writer.write(StateWrite(
                "INSERT OR REPLACE INTO alarms (id, tracked, doc) VALUES (?, 1, ?)",
                (alarm.alarm_id, alarm.model_dump_json())))
        else:
            self._writer.write(StateWrite("DELETE FROM alarms WHERE id = ?", (alarm.alarm_id,)))
            if alarm.closed_at is not None:
                self._writer.write(StateWrite(
                    "INSERT OR REPLACE INTO alarm_history (id, closed_at, doc) VALUES (?, ?, ?)",
                    (alarm.alarm_id, alarm.closed_at.timestamp(), alarm.model_dump_json())))

    def forget_history(self, closed_before: datetime, keep_ids: list[str]) -> None:
        """Drop history closed before ``closed_before``, and beyond the newest ones kept."""
        self._writer.write(StateWrite("DELETE FROM alarm_history WHERE closed_at < ?",
                                      (closed_before.timestamp(),)))
        if keep_ids:
            self._writer.write(StateWrite(
                "DELETE FROM alarm_history WHERE closed_at < (SELECT closed_at FROM "
                "alarm_history WHERE id = ?)", (keep_ids[0],)))

    def get_value(self, key: str) -> Any:
        return self._values.get(key)

    def set_value(self, key: str, value: Any) -> None:
        self._values[key] = value
        self._writer.write(StateWrite("INSERT OR REPLACE INTO kv (key, doc) VALUES (?, ?)",
                                      (key, json.dumps(value))))


class AlarmService:
    def __init__(
        self,
        store: AlarmStore,
        policy: AlarmPolicy,
        publish: Callable[[object], None],
        drill_active: Callable[[], bool],
    ) -> None:
        self._store = store
        self._policy = policy
        self._publish = publish
        self._drill_active = drill_active
        self._tracked: dict[str, AlarmSnapshot] = {}
        # Indexes of the open alarms, so no lookup grows with the number of open alarms.
        self._open_by_key: dict[str, str] = {}  # device/point/condition -> alarm id
        self._open_by_device: dict[str, dict[str, None]] = {}  # device -> alarm ids, oldest first
        self._active_by_device: dict[str, set[str]] = {}  # device -> "point/condition" active
        self._sources: dict[str, set[str]] = {}  # key of a ONE_POINT alarm -> sources active
        # closed alarms with nothing left to do, by id, oldest closing first
        self._history: OrderedDict[str, AlarmSnapshot] = OrderedDict(
            (a.alarm_id, a) for a in store.load_history())
        for alarm in store.load():
            self._track(alarm)

    # -- queries -------------------------------------------------------------------------

    def open_alarms(self) -> list[AlarmSnapshot]:
        return [a for a in self._tracked.values() if a.closed_at is None]

    def open_count(self) -> int:
        return len(self._open_by_key)

    def tasks(self) -> list[AlarmSnapshot]:
        """Closed alarms with a report not yet marked done: the guards' follow-up, the
        earliest deadline first."""
        return sorted((a for a in self._tracked.values() if a.closed_at is not None),
                      key=lambda a: min(d for k, d in a.reports_due.items()
                                        if k not in a.reports_done))

    def held(self) -> list[AlarmSnapshot]:
        """Every alarm the gateway still holds (open, follow-up, history), newest raised first."""
        known = {**self._history, **self._tracked}
        return sorted(known.values(), key=lambda a: a.raised_at, reverse=True)

    def open_for_device(self, device_id: str) -> list[AlarmSnapshot]:
        return [self._tracked[i] for i in self._open_by_device.get(device_id, ())]

    def get(self, alarm_id: str) -> AlarmSnapshot:
        alarm = self._tracked.get(alarm_id)
        if alarm is None:
            raise AlarmError(f"no open alarm {alarm_id!r}", "alarm_not_open")
        return alarm

    def find(self, alarm_id: str) -> AlarmSnapshot | None:
        """An alarm open, in follow-up or in the history; None once the gateway forgot it."""
        return self._tracked.get(alarm_id) or self._history.get(alarm_id)

    def _open_for(self, key: str) -> AlarmSnapshot | None:
        alarm_id = self._open_by_key.get(key)
        return self._tracked[alarm_id] if alarm_id is not None else None

    def active_conditions(self, device_id: str) -> AbstractSet[str]:
        """``point/condition`` of the device's active open alarms: a live, read-only view."""
        return self._active_by_device.get(device_id, _NONE)

    # -- facts from devices --------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if event.type is FIRE_PANEL_RESET and isinstance(event.payload, PanelAction):
            self._panel_reset(event.device_id, event.payload)
            return
        fact = classify(event)
        if fact is None:
            return
        condition, raising, source = fact
        point = ONE_POINT.get(condition.name, source)
        key = f"{event.device_id}/{point}/{condition.name}"
        alarm = self._open_for(key)
        if point != source:  # one of several sources: the alarm returns when none is active
            sources = self._sources.setdefault(key, set())
            if raising:
                sources.add(source)
            else:
                sources.discard(source)
                if sources:
                    return
                del self._sources[key]
        if raising:
            if alarm is None:
                self._raise(event, condition, key, point)
            elif not alarm.active:
                self._change(ALARM_REACTIVATED, alarm, active=True, acknowledged=False,
                             acknowledged_at=None, acknowledged_by=None, returned_at=None,
                             activations=alarm.activations + 1)
        elif alarm is not None and alarm.active:
            alarm = self._change(ALARM_RETURNED, alarm, active=False, returned_at=event.time)
            if not alarm.latched and alarm.acknowledged:
                self._close(alarm, None, "returned to normal after acknowledge")

    def _panel_reset(self, device_id: str, action: PanelAction) -> None:
        """A reset at the panel closes the fire-system alarms it covers."""
        scope = (f"S{action.system_type}-{action.system_address}/"
                 if action.system_address is not None else "")
        for alarm in self.open_for_device(device_id):
            if (alarm.condition in FIRE_CONDITIONS
                    and alarm.point.startswith(scope)):
                if alarm.active:
                    alarm = self._change(ALARM_RETURNED, alarm, active=False,
                                         returned_at=utcnow())
                self._close(alarm, None, "panel reset")

    def _raise(self, event: Event, condition: Condition, key: str, point: str) -> None:
        payload = event.payload
        zone = str(getattr(payload, "zone", "") or getattr(payload, "gate", ""))
        location = str(getattr(payload, "location", "") or getattr(payload, "description", ""))
        drill = self._drill_active()
        raised = min(event.time, utcnow())  # a device time ahead of ours: deadlines from now
        due: dict[str, datetime] = {}
        if not drill:
            p = self._policy
            if condition.severity in (Severity.CRITICAL, Severity.MAJOR):
                due = {"first": raised + timedelta(seconds=p.first_report_within),
                       "written": raised + timedelta(seconds=p.written_report_within)}
            else:
                due = {"general": raised + timedelta(seconds=p.general_report_within)}
        alarm = AlarmSnapshot(
            alarm_id=f"alm-{uuid6.uuid7()}",
            key=key,
            device_id=event.device_id,
            point=point,
            condition=condition.name,
            severity=condition.severity,
            zone=zone,
            location=location,
            state=_state(True, False, False),
            active=True,
            acknowledged=False,
            latched=condition.latched,
            drill=drill,
            raised_at=raised,
            activations=1,
            reports_due=due,
        )
        self._commit(ALARM_RAISED, alarm)

    # -- what people do ------------------------------------------------------------------

    def acknowledge(self, alarm_id: str, by: str, note: str = "") -> AlarmSnapshot:
        alarm = self.get(alarm_id)
        if alarm.closed_at is not None:
            raise AlarmError(f"alarm {alarm_id} is closed", "alarm_closed")
        if alarm.acknowledged:
            return alarm
        alarm = self._change(ALARM_ACKNOWLEDGED, alarm, by=by, acknowledged=True,
                             acknowledged_at=utcnow(), acknowledged_by=by,
                             note=note or alarm.note, acknowledgement_note=note)
        if not alarm.active and not alarm.latched:
            alarm = self._close(alarm, by, note)
        return alarm

    def reset(self, alarm_id: str, by: str, note: str = "") -> AlarmSnapshot:
        alarm = self.get(alarm_id)
        if alarm.closed_at is not None:
            raise AlarmError(f"alarm {alarm_id} is already closed", "alarm_closed")
        if alarm.active:
            raise AlarmError(
                f"alarm {alarm_id} cannot be reset: {alarm.condition} at {alarm.device_id}/"
                f"{alarm.point} is still active (reset the button with its key first)",
                "alarm_still_active")
        if not alarm.acknowledged:
            alarm = self.acknowledge(alarm_id, by, note)
        return alarm if alarm.closed_at else self._close(alarm, by, note)

    def report(self, alarm_id: str, kind: str, by: str) -> AlarmSnapshot:
        alarm = self.get(alarm_id)
        if kind not in alarm.reports_due:
            raise AlarmError(
                f"alarm {alarm_id} has no {kind!r} report due (due: {sorted(alarm.reports_due)})",
                "no_report_due")
        if kind in alarm.reports_done:
            return alarm
        done = {**alarm.reports_done, kind: utcnow()}
        return self._change(ALARM_REPORTED, alarm, by=by, report=kind, reports_done=done)

    def police_called(self, alarm_id: str, by: str, note: str = "") -> AlarmSnapshot:
        """A guard says the police were called (the call itself is made by phone)."""
        alarm = self.get(alarm_id)
        if alarm.closed_at is not None:
            raise AlarmError(f"alarm {alarm_id} is closed", "alarm_closed")
        return self._change(ALARM_POLICE_CALLED, alarm, by=by, police_called_at=utcnow(),
                            police_called_by=by, note=note or alarm.note)

    # -- time ----------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Escalate unacknowledged alarms, flag missed reporting deadlines, age the history."""
        self._age_history(now)
        for alarm in list(self._tracked.values()):
            if (alarm.closed_at is None and not alarm.acknowledged and alarm.escalated_at is None
                    and now - alarm.raised_at >= timedelta(seconds=self._policy.escalate_after)):
                alarm = self._change(ALARM_ESCALATED, alarm, escalated_at=now)
            for kind, due in alarm.reports_due.items():
                if now >= due and kind not in alarm.reports_done and kind not in alarm.overdue:
                    alarm = self._change(ALARM_REPORT_OVERDUE, alarm, report=kind,
                                         overdue=[*alarm.overdue, kind])

    # -- bookkeeping ---------------------------------------------------------------------

    def _track(self, alarm: AlarmSnapshot) -> None:
        """Keep (or update, in its place: order is raising order) an alarm and its indexes."""
        previous = self._tracked.get(alarm.alarm_id)
        self._tracked[alarm.alarm_id] = alarm
        self._reindex(previous, alarm)

    def _untrack(self, alarm: AlarmSnapshot) -> None:
        self._reindex(self._tracked.pop(alarm.alarm_id, None), None)

    def _reindex(self, previous: AlarmSnapshot | None, current: AlarmSnapshot | None) -> None:
        if previous is not None and previous.closed_at is None:
            if self._open_by_key.get(previous.key) == previous.alarm_id:
                del self._open_by_key[previous.key]
            self._active_by_device.get(previous.device_id, set()).discard(
                f"{previous.point}/{previous.condition}")
            if current is None or current.closed_at is not None:
                self._open_by_device.get(previous.device_id, {}).pop(previous.alarm_id, None)
        if current is not None and current.closed_at is None:
            self._open_by_key[current.key] = current.alarm_id
            self._open_by_device.setdefault(current.device_id, {})[current.alarm_id] = None
            if current.active:
                self._active_by_device.setdefault(current.device_id, set()).add(
                    f"{current.point}/{current.condition}")

    def _close(self, alarm: AlarmSnapshot, by: str | None, note: str) -> AlarmSnapshot:
        return self._change(ALARM_CLOSED, alarm, by=by, closed_at=utcnow(), closed_by=by,
                            note=note or alarm.note, closing_note=note)

    def _change(self, kind: EventType, alarm: AlarmSnapshot, *, by: str | None = None,
                report: str | None = None, **changes: Any) -> AlarmSnapshot:
        merged = {**alarm.model_dump(), **changes}
        merged["state"] = _state(merged["active"], merged["acknowledged"],
                                 merged["closed_at"] is not None)
        updated = AlarmSnapshot.model_validate(merged)
        self._commit(kind, updated, by, report)
        return updated

    def _commit(self, kind: EventType, alarm: AlarmSnapshot, by: str | None = None,
                report: str | None = None) -> None:
        # an overdue report is still owed: the alarm stays a task until a guard marks it done
        pending = any(k not in alarm.reports_done for k in alarm.reports_due)
        tracked = alarm.closed_at is None or pending
        with self._store.unit():  # the change and the events announcing it: one transaction
            self._store.save(alarm, tracked)
            if tracked:
                self._track(alarm)
            else:
                self._untrack(alarm)
                self._history.pop(alarm.alarm_id, None)
                self._history[alarm.alarm_id] = alarm
            self._publish(AlarmChanged(kind, alarm, by, report))

    def _age_history(self, now: datetime) -> None:
        oldest = now - timedelta(seconds=self._policy.history_kept)
        dropped = False
        while self._history:
            first = next(iter(self._history.values()))
            if len(self._history) <= HISTORY_HELD and (first.closed_at or now) >= oldest:
                break
            self._history.popitem(last=False)
            dropped = True
        if dropped:
            with self._store.unit():
                self._store.forget_history(oldest, list(self._history)[:1])
