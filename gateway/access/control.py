"""Access decisions at the edge, and the commands that manage them.

``decide`` is what every reader and gate controller calls (``DeviceSink.decide``). It looks the
credential up (a visitor pass first, then the credential store), checks it in a fixed order, and
commits the decision event together with what it changes (who is where, a visit's entries, a
student's arrival) in one transaction before it answers. The checks, in order, each with its
deny reason:

1. known credential (``unknown_credential``); 2. not revoked or lost (``revoked``);
3. validity window of the card, the person or the visit (``not_yet_valid``, ``expired``);
   a visit closed or used up (``visit_closed``); 4. allowed at this gate (``gate_not_allowed``);
5. the gate is not locked (``lockdown``); 6. the person's schedule (``outside_schedule``);
7. a student leaving during school hours has a release (``no_release``);
8. anti-passback of the gate's area (``anti_passback``, hard mode only);
9. card + PIN where the gate asks for it (``pin_required``, ``pin_wrong``).

Leaving is never refused for a visit's window or a schedule: nobody is kept in because their
time ran out. Everything is decided here, from what the site last received: a site whose link
to the centre is down keeps deciding, and its events wait in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import uuid6
from pydantic import ValidationError

from gateway.access.config import Access, Gate
from gateway.access.credentials import (
    Applied,
    Changes,
    CredentialStore,
    Holder,
    Snapshot,
    SyncError,
)
from gateway.access.ledger import Ledger, Release, ReleaseRequest, Visit, VisitRequest, Whereabouts
from gateway.access.modes import GateModes
from gateway.access.schedules import Schedules
from gateway.commands import CommandError, Handler, text_arg
from gateway.kernel.access import AccessDecision, AccessRequest, DenyReason
from gateway.kernel.events import (
    ACCESS_DENIED,
    ACCESS_GRANTED,
    CREDENTIALS_SYNCED,
    STUDENT_ARRIVED,
    STUDENT_DEPARTED,
    VISITOR_CLOSED,
    VISITOR_ENTERED,
    VISITOR_LEFT,
    VISITOR_OVERSTAYED,
    VISITOR_REGISTERED,
    AccessDecisionFact,
    CredentialSync,
    Event,
    PresenceFact,
    Severity,
    VisitFact,
    utcnow,
)
from gateway.kernel.ports import ActionError

log = logging.getLogger(__name__)

Execute = Callable[[str, str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


def _mask(code: str) -> str:
    return "*" * max(0, len(code) - 4) + code[-4:]


class AccessControl:
    def __init__(self, access: Access, schedules: Schedules, store: CredentialStore,
                 ledger: Ledger, modes: GateModes, publish: Callable[[object], None],
                 unit: Callable[[], AbstractContextManager[None]],
                 durable: Callable[[], Awaitable[None]], execute: Execute,
                 serving: Mapping[str, list[str]], gateway_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._access = access
        self._clock = clock  # what "now" is for a registration (a test's term-time Monday)
        self._gates = {g.id: g for g in access.gates}
        self._schedules = schedules
        self.store = store
        self.ledger = ledger
        self.modes = modes
        self._publish = publish
        self._unit = unit
        self._durable = durable
        self._execute = execute
        self._serving = serving
        self._gateway = gateway_id
        self._privacy = access.privacy

    # -- deciding ------------------------------------------------------------------------

    async def decide(self, request: AccessRequest) -> AccessDecision:
        with self._unit():
            decision = self._decide(request)
        await self._durable()
        return decision

    def _decide(self, r: AccessRequest) -> AccessDecision:
        gate = self._gates.get(r.gate) or Gate(id=r.gate)
        mode, _cause = self.modes.mode(r.gate, r.time)
        visit = self.ledger.visit_by_pass(r.credential)
        holder = None if visit else self.store.holder(r.credential)
        person = visit.person_id if visit else holder.person_id if holder else None
        category = "visitor" if visit else holder.category if holder else None
        if visit is not None:
            reason, passback = self._judge_visit(r, gate, mode, visit)
        elif holder is not None:
            reason, passback = self._judge(r, gate, mode, holder)
        else:
            reason, passback = "unknown_credential", False
        granted = reason is None
        device_reason = r.device_reason
        if r.decided_by_device is not None:  # the controller decided; we record what it did
            granted = r.decided_by_device
            reason = None if granted else reason
        if r.refused is not None:  # too late to open for anyone: recorded, never judged
            granted, reason, passback = False, r.refused, False
        fact = AccessDecisionFact(
            gate=r.gate, reader=r.reader, direction=r.direction, granted=granted, reason=reason,
            credential=r.credential if self._privacy.full_credentials_in_events
            else _mask(r.credential),
            person_id=person, category=category, name=self._name(visit, holder),
            decided_by="device" if r.decided_by_device is not None else "gateway",
            device_reason=device_reason, mode=mode, passback=passback and granted,
            visit_id=visit.visit_id if visit else None, area=gate.area)
        self._publish(Event(ACCESS_GRANTED if granted else ACCESS_DENIED, r.device_id, fact,
                            Severity.INFO if granted else Severity.MINOR, r.reader, r.time,
                            reading=r.reading, device_time=r.device_time,
                            truncated=r.truncated))
        if granted and person is not None and category is not None:
            self._passed(r, gate, person, category, visit, holder)
        return AccessDecision(granted=granted, reason=reason, person_id=person,
                              category=category)

    def _name(self, visit: Visit | None, holder: Holder | None) -> str | None:
        if not self._privacy.names_in_events:
            return None
        return visit.name if visit else holder.name if holder else None

    def _judge(self, r: AccessRequest, gate: Gate, mode: str,
               holder: Holder) -> tuple[DenyReason | None, bool]:
        leaving = r.direction == "out"
        if holder.status != "active":
            return "revoked", False
        if holder.valid_from and r.time < holder.valid_from:
            return "not_yet_valid", False
        if holder.valid_until and r.time > holder.valid_until and not leaving:
            return "expired", False
        if holder.gates and r.gate not in holder.gates:
            return "gate_not_allowed", False
        if mode == "locked":
            return "lockdown", False
        schedule = holder.schedule or self._access.category_schedules.get(
            holder.category)  # type: ignore[call-overload]
        if schedule and not leaving and not self._schedules.allows(schedule, r.time):
            return "outside_schedule", False
        school = self._access.students.school_hours
        if (holder.category == "student" and leaving and gate.perimeter and school
                and self._schedules.allows(school, r.time)
                and not self.ledger.released(holder.person_id, r.time)):
            return "no_release", False
        violation = self._passback(holder.person_id, gate, r.direction)
        policy = self._access.area(gate.area).anti_passback
        if violation and policy == "hard":
            return "anti_passback", False
        if gate.pin:
            if r.pin is None:
                return "pin_required", False
            if not holder.pin_matches(r.pin):
                return "pin_wrong", False
        return None, violation and policy == "soft"

    def _judge_visit(self, r: AccessRequest, gate: Gate, mode: str,
                     visit: Visit) -> tuple[DenyReason | None, bool]:
        if r.direction == "out":
            return ("lockdown", False) if mode == "locked" else (None, False)
        if visit.closed or visit.entries_used >= visit.entries_allowed:
            return "visit_closed", False
        if r.time < visit.valid_from:
            return "not_yet_valid", False
        if r.time > visit.valid_until:
            return "expired", False
        if (visit.gates and r.gate not in visit.gates) or gate.pin:
            return "gate_not_allowed", False
        if mode == "locked":
            return "lockdown", False
        return None, False

    def _passback(self, person: str, gate: Gate, direction: str) -> bool:
        where = self.ledger.where(person)
        if where is None or where.at is None:
            return False
        inside = gate.area in where.areas
        return inside if direction == "in" else not inside

    def _passed(self, r: AccessRequest, gate: Gate, person: str, category: str,
                visit: Visit | None, holder: Holder | None) -> None:
        """A grant: who is where now, and the events that tell of it."""
        before = self.ledger.where(person) or Whereabouts(category)
        local_day = self._schedules.local(r.time).date()
        name = self._name(visit, holder)
        if r.direction == "in":
            areas = before.areas | {gate.area}
            first_today = before.arrived_on != local_day
            after = replace(before, category=category, areas=areas, gate=r.gate, at=r.time,
                            arrived_on=local_day if first_today else before.arrived_on)
            if category == "student" and first_today:
                late = self._access.students.late()
                self._publish(Event(STUDENT_ARRIVED, r.device_id, PresenceFact(
                    person_id=person, category=category, gate=r.gate, direction="in",
                    late=late is not None and self._schedules.local(r.time).time() > late,
                    name=name), Severity.INFO, person, r.time))
        else:
            areas = frozenset() if gate.perimeter else before.areas - {gate.area}
            after = replace(before, category=category, areas=areas, gate=r.gate, at=r.time)
            if category == "student" and gate.perimeter:
                self._publish(Event(STUDENT_DEPARTED, r.device_id, PresenceFact(
                    person_id=person, category=category, gate=r.gate, direction="out",
                    name=name), Severity.INFO, person, r.time))
        self.ledger.move(person, after)
        if visit is not None:
            self._visit_passed(r, visit)

    def _visit_passed(self, r: AccessRequest, visit: Visit) -> None:
        if r.direction == "in":
            visit = visit.model_copy(update={"entries_used": visit.entries_used + 1,
                                             "on_campus": True})
            self._visit_event(VISITOR_ENTERED, visit, gate=r.gate)
        else:
            visit = visit.model_copy(update={"on_campus": False})
            self._visit_event(VISITOR_LEFT, visit, gate=r.gate)
            if visit.entries_used >= visit.entries_allowed and not visit.closed:
                visit = visit.model_copy(update={"closed": True, "closed_by": "exit"})
                self._visit_event(VISITOR_CLOSED, visit, gate=r.gate)
        self.ledger.save_visit(visit)

    def _visit_event(self, kind: Any, visit: Visit, gate: str = "",
                     severity: Severity = Severity.INFO) -> None:
        """A visit's events are the gateway's (its overstay alarm is the gateway's too)."""
        self._publish(Event(kind, self._gateway, VisitFact(
            visit_id=visit.visit_id, person_id=visit.person_id, host=visit.host,
            purpose=visit.purpose, valid_from=visit.valid_from, valid_until=visit.valid_until,
            gates=visit.gates, entries_allowed=visit.entries_allowed,
            entries_used=visit.entries_used, on_campus=visit.on_campus, gate=gate,
            closed_by=visit.closed_by,
            name=visit.name if self._privacy.names_in_events else None), severity,
            visit.visit_id))

    # -- the clock -----------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        grace = timedelta(seconds=self._access.visitors.overstay_grace)
        with self._unit():
            for visit in list(self.ledger.visits.values()):
                if visit.on_campus and not visit.overstayed and now > visit.valid_until + grace:
                    visit = visit.model_copy(update={"overstayed": True})
                    self._visit_event(VISITOR_OVERSTAYED, visit, severity=Severity.MAJOR)
                    self.ledger.save_visit(visit)
                elif not visit.on_campus and not visit.closed and now > visit.valid_until:
                    visit = visit.model_copy(update={"closed": True, "closed_by": "window"})
                    self._visit_event(VISITOR_CLOSED, visit)
                    self.ledger.save_visit(visit)
            self.ledger.prune_releases(now)
            self.ledger.prune_visits(now)
        self.modes.tick()

    # -- commands ------------------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        """The access commands (roles and audit in ``gateway.command_table``)."""
        return {
            "access.status": self._status,
            "access.on_campus": self._on_campus,
            "access.forgive": self._forgive,
            "gate.list": self._gate_list,
            "gate.open": self._gate_open,
            "lockdown.start": self._lockdown_start,
            "lockdown.stop": self._lockdown_stop,
            "student.release": self._release,
            "visitor.add": self._visitor_add,
            "visitor.close": self._visitor_close,
            "visitor.list": self._visitor_list,
            "credentials.snapshot": self._snapshot,
            "credentials.changes": self._changes,
        }

    def status(self) -> dict[str, Any]:
        persons, credentials = self.store.counts()
        return {"credentials_version": self.store.version, "persons": persons,
                "credentials": credentials, "lockdown": self.modes.lockdown is not None,
                "fire_release": self.modes.fire_release,
                "on_campus": sum(1 for _ in self.ledger.on_campus())}

    async def _status(self, args: dict[str, Any], _by: str) -> Any:
        return self.status()

    def roll_call(self) -> list[dict[str, Any]]:
        """Everybody on campus now, from the gate records: the evacuation's roll call."""
        visits = {v.person_id: v for v in self.ledger.visits.values()}
        out = []
        for person, where in sorted(self.ledger.on_campus()):
            visit = visits.get(person)
            known = None if visit else self.store.person(person)
            out.append({"person_id": person, "category": where.category,
                        "name": visit.name if visit else (known[1] if known else None),
                        "gate": where.gate, "since": where.at.isoformat() if where.at else None,
                        "areas": sorted(where.areas),
                        "visit_id": visit.visit_id if visit else None})
        return out

    async def _on_campus(self, args: dict[str, Any], _by: str) -> Any:
        category = args.get("category")
        people = self.roll_call()
        return [p for p in people if category in (None, p["category"])]

    async def _forgive(self, args: dict[str, Any], by: str) -> Any:
        person = text_arg(args, "person_id")
        with self._unit():
            known = self.ledger.forgive(person)
        return {"person_id": person, "forgiven": known}

    async def _gate_list(self, args: dict[str, Any], _by: str) -> Any:
        return {"lockdown": self.modes.lockdown, "fire_release": self.modes.fire_release,
                "gates": self.modes.states()}

    async def _gate_open(self, args: dict[str, Any], by: str) -> Any:
        gate = text_arg(args, "gate")
        if gate not in self._gates:
            raise CommandError("bad_request", f"no gate {gate!r}; gates: {sorted(self._gates)}")
        devices = self._serving.get(gate, [])
        if not devices:
            raise CommandError("refused", f"no device serves gate {gate!r}")
        results: dict[str, Any] = {}
        for device in devices:
            try:
                results[device] = await self._execute(device, "open", {
                    "gate": gate, "reason": f"command by {by}"})
            except ActionError as exc:
                results[device] = {"error": str(exc)}
        if all("error" in r and r["error"] for r in results.values()):
            raise CommandError("refused", "; ".join(f"{d}: {r['error']}"
                                                    for d, r in results.items()))
        return {"gate": gate, "devices": results}

    async def _lockdown_start(self, args: dict[str, Any], by: str) -> Any:
        return self.modes.start_lockdown(by, str(args.get("note", ""))[:200])

    async def _lockdown_stop(self, args: dict[str, Any], by: str) -> Any:
        return self.modes.stop_lockdown(by)

    async def _release(self, args: dict[str, Any], by: str) -> Any:
        request = _model(ReleaseRequest, args)
        if self.store.person(request.person_id) is None:
            raise CommandError("refused", f"no person {request.person_id!r}")
        release = Release(request.person_id, request.valid_from or utcnow(),
                          request.valid_until, by, request.note)
        if release.until <= release.start:
            raise CommandError("bad_request", "valid_until must be after valid_from")
        with self._unit():
            self.ledger.release(release)
        return {"person_id": release.person_id, "from": release.start.isoformat(),
                "until": release.until.isoformat(), "by": by}

    async def _visitor_add(self, args: dict[str, Any], by: str) -> Any:
        request = _model(VisitRequest, args)
        now = self._clock()
        start = request.valid_from or now
        if request.valid_until <= start:
            raise CommandError("bad_request", "valid_until must be after valid_from")
        if request.valid_until <= now:
            # a pass for a window already over would open nothing: the guard mistyped a time
            raise CommandError("bad_request", f"valid_until {request.valid_until.isoformat()} "
                               f"is already past (now {now.isoformat(timespec='seconds')}): "
                               "a visit's window must end in the future")
        longest = self._access.visitors.max_visit
        if (request.valid_until - start).total_seconds() > longest:
            raise CommandError("bad_request", f"a visit may last at most {longest:g} s "
                               "(access.visitors.max_visit)")
        gates = request.gates or self._access.visitors.default_gates
        unknown = [g for g in gates if g not in self._gates]
        if unknown:
            raise CommandError("bad_request", f"no gate {unknown[0]!r}; gates: "
                               f"{sorted(self._gates)}")
        visit_id = f"vis-{uuid6.uuid7()}"
        visit = Visit(visit_id=visit_id, pass_code=self.ledger.new_pass_code(),
                      person_id=visit_id, name=request.name, host=request.host,
                      purpose=request.purpose, valid_from=start,
                      valid_until=request.valid_until, gates=list(gates),
                      entries_allowed=request.entries, registered_by=by)
        with self._unit():
            self.ledger.save_visit(visit)
            self._visit_event(VISITOR_REGISTERED, visit)
        return visit.model_dump(mode="json")

    async def _visitor_close(self, args: dict[str, Any], by: str) -> Any:
        visit_id = text_arg(args, "visit_id")
        visit = self.ledger.visits.get(visit_id)
        if visit is None:
            raise CommandError("refused", f"no open visit {visit_id!r}")
        visit = visit.model_copy(update={"closed": True, "closed_by": by, "on_campus": False})
        with self._unit():
            self._visit_event(VISITOR_CLOSED, visit)
            self.ledger.save_visit(visit)
            self.ledger.forgive(visit.person_id)
        return visit.model_dump(mode="json")

    async def _visitor_list(self, args: dict[str, Any], _by: str) -> Any:
        visits = [v for v in self.ledger.visits.values() if not v.closed or v.on_campus]
        if args.get("on_campus"):
            visits = [v for v in visits if v.on_campus]
        return [v.model_dump(mode="json", exclude={"pass_code"}) for v in visits]

    async def _snapshot(self, args: dict[str, Any], by: str) -> Any:
        return await self._sync(self.store.snapshot(_model(Snapshot, args)), by)

    async def _changes(self, args: dict[str, Any], by: str) -> Any:
        return await self._sync(self.store.changes(_model(Changes, args)), by)

    async def _sync(self, job: Awaitable[Applied], by: str) -> Any:
        try:
            applied = await job
        except SyncError as exc:
            raise CommandError("refused", str(exc)) from None
        if applied.complete and not applied.already:
            log.info("credentials: version %d (%s by %s): %d persons, %d credentials",
                     applied.version, applied.kind, by, applied.persons, applied.credentials)
            with self._unit():
                self._publish(Event(CREDENTIALS_SYNCED, self._gateway, CredentialSync(
                    version=applied.version, kind=applied.kind,
                    credentials=applied.credentials, persons=applied.persons,
                    changed=applied.changed, by=by)))
        return {"version": self.store.version, "complete": applied.complete,
                "already": applied.already, "persons": applied.persons,
                "credentials": applied.credentials}

    async def wait_idle(self) -> None:
        await self.modes.wait_idle()
        await asyncio.sleep(0)


def _model(model: type[Any], args: dict[str, Any]) -> Any:
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(args)"
        raise CommandError("bad_request", f"{where}: {first['msg']}") from None
