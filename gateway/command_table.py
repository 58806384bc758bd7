"""Every command the gateway accepts: its name, the role it needs, whether it is audited, and
the model of its arguments where it has one. The router binds a handler to each name (and
refuses to start with one missing); the contract lists them and their argument schemas.

``device.action`` is a guard's command, but what it does is the device's: each action needs the
role ``DEVICE_ACTION_ROLES`` gives it, checked with the command's own role before it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from gateway.access.credentials import Changes, Snapshot
from gateway.access.ledger import ReleaseRequest, VisitRequest


@dataclass(frozen=True)
class CommandSpec:
    role: str
    audited: bool
    summary: str
    args: type[BaseModel] | None = None
    # the role one call needs when that depends on its arguments (never less than ``role``)
    role_of: Callable[[dict[str, Any]], str] | None = None


# What a guard's duty needs at the moment is a guard's: outputs (sirens, door relays), opening a
# gate once, a camera's snapshot, clip and preset, a status read, a reader's reconnect, a duty
# check. What changes how a device works until someone changes it back is a supervisor's: a
# gate's mode (a guard must not undo a lockdown), reader keys, the clock, a fire panel's reset
# (it clears the panel's alarms for the whole building). An action not named here: supervisor.
DEVICE_ACTION_ROLES: dict[str, str] = {
    "output": "guard", "open": "guard", "snapshot": "guard", "clip": "guard",
    "ptz_preset": "guard", "status": "guard", "reconnect": "guard", "duty-check": "guard",
    "gate_mode": "supervisor", "install_key": "supervisor", "rotate_key": "supervisor",
    "clock-sync": "supervisor",
    "reset": "supervisor",
}


def device_action_role(args: dict[str, Any]) -> str:
    action = args.get("action")
    return DEVICE_ACTION_ROLES.get(action, "supervisor") if isinstance(action, str) \
        else "supervisor"


COMMANDS: dict[str, CommandSpec] = {
    "alarm.list": CommandSpec("viewer", False, "Open alarms."),
    "alarm.acknowledge": CommandSpec("guard", True, "Acknowledge an alarm {alarm_id, note}."),
    "alarm.reset": CommandSpec("guard", True, "Reset (close) an alarm {alarm_id, note}."),
    "alarm.report": CommandSpec("guard", True, "Mark a report made {alarm_id, kind}."),
    "alarm.police_called": CommandSpec("guard", True, "Record a police call {alarm_id, note}."),
    "drill.start": CommandSpec("supervisor", True, "Start a drill {note}."),
    "drill.stop": CommandSpec("supervisor", True, "Stop the drill; its summary."),
    "device.list": CommandSpec("viewer", False, "The device inventory."),
    "device.action": CommandSpec("guard", True, "A device's action {device, action, args}; "
                                 "each action needs its own role (DEVICE_ACTION_ROLES).",
                                 role_of=device_action_role),
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
    "evacuation.start": CommandSpec("guard", True, "Open the evacuation roll call from a fire "
                                    "alarm {alarm_id}, or during a drill; answers the open one "
                                    "if there is one."),
    "evacuation.tick": CommandSpec("guard", True, "Tick a person off at the assembly point "
                                   "{evacuation_id, person_id, present}."),
    "evacuation.end": CommandSpec("guard", True, "Close the roll call {evacuation_id}."),
    "shift.handover": CommandSpec("supervisor", True, "Leave the shift handover note {note}."),
}
