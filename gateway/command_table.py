"""Every command the gateway accepts: its name, the role it needs, whether it is audited, and
the model of its arguments where it has one. The router binds a handler to each name (and
refuses to start with one missing); the contract lists them and their argument schemas."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from gateway.access.credentials import Changes, Snapshot
from gateway.access.ledger import ReleaseRequest, VisitRequest


@dataclass(frozen=True)
class CommandSpec:
    role: str
    audited: bool
    summary: str
    args: type[BaseModel] | None = None


COMMANDS: dict[str, CommandSpec] = {
    "alarm.list": CommandSpec("viewer", False, "Open alarms."),
    "alarm.acknowledge": CommandSpec("guard", True, "Acknowledge an alarm {alarm_id, note}."),
    "alarm.reset": CommandSpec("guard", True, "Reset (close) an alarm {alarm_id, note}."),
    "alarm.report": CommandSpec("guard", True, "Mark a report made {alarm_id, kind}."),
    "alarm.police_called": CommandSpec("guard", True, "Record a police call {alarm_id, note}."),
    "drill.start": CommandSpec("supervisor", True, "Start a drill {note}."),
    "drill.stop": CommandSpec("supervisor", True, "Stop the drill; its summary."),
    "device.list": CommandSpec("viewer", False, "The device inventory."),
    "device.action": CommandSpec("guard", True, "A device's action {device, action, args}."),
    "access.status": CommandSpec("viewer", False, "Credential version and counts, lockdown, "
                                 "fire release, people on campus."),
    "access.on_campus": CommandSpec("viewer", False, "Who is on campus now (roll call) "
                                    "{category}."),
    "access.forgive": CommandSpec("guard", True, "Anti-passback forgive {person_id}."),
    "gate.list": CommandSpec("viewer", False, "Gates and their modes."),
    "gate.open": CommandSpec("guard", True, "Open a gate once {gate}."),
    "lockdown.start": CommandSpec("supervisor", True, "Lock every gate {note}; fire release "
                                  "still wins."),
    "lockdown.stop": CommandSpec("supervisor", True, "End the lockdown."),
    "student.release": CommandSpec("guard", True, "Let a student leave during school hours.",
                                   ReleaseRequest),
    "visitor.add": CommandSpec("guard", True, "Register a visit; answers its pass code.",
                               VisitRequest),
    "visitor.close": CommandSpec("guard", True, "Close a visit {visit_id}."),
    "visitor.list": CommandSpec("viewer", False, "Open visits {on_campus}."),
    "credentials.snapshot": CommandSpec("supervisor", True, "Replace the credential list "
                                        "(in parts).", Snapshot),
    "credentials.changes": CommandSpec("supervisor", True, "Change the credential list from "
                                       "the version held.", Changes),
}
