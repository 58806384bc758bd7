"""Commands from the central platform, the console and the CLI: authorised, audited, answered.

A request is JSON on ``.../request/<name>``::

    {"correlation_id": "...", "operator": "guard1", "token": "...", "args": {...}}

The token is checked against the SHA-256 kept in the site file; the operator's role must allow
the command. Every command that changes something, and every refusal, is written to the audit
log (``<state_dir>/audit.jsonl``) and published as a ``campus.audit.command`` event. Retained
requests are never executed (a retained command would replay on every reconnect).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers import ActionError
from gateway.alarms import REPORT_KINDS, AlarmError, AlarmService
from gateway.config import Operator
from gateway.drills import Drills
from gateway.events import (
    COMMAND_AUDIT,
    DRILL_STARTED,
    DRILL_STOPPED,
    CommandAudit,
    Event,
    Severity,
)

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
ROLES = {"viewer": 0, "guard": 1, "supervisor": 2}


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    correlation_id: str = Field(default="", max_length=128)
    operator: str = ""
    token: str = ""
    args: dict[str, Any] = {}


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Command:
    role: str
    audited: bool
    handler: Callable[[dict[str, Any], str], Awaitable[Any]]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuditLog:
    """Append-only JSON lines, flushed to disk before the command's answer leaves."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _arg(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise CommandError("bad_request", f"argument {name!r} (a string) is required")
    return value


class CommandRouter:
    def __init__(
        self,
        operators: list[Operator],
        alarms: AlarmService,
        drills: Drills,
        audit: AuditLog,
        emit: Callable[[Event], None],
        inventory: Callable[[], list[dict[str, Any]]],
        gateway_device: str,
        execute: Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]],
    ) -> None:
        self._operators = {op.name: op for op in operators}
        self._alarms = alarms
        self._drills = drills
        self._audit = audit
        self._emit = emit
        self._inventory = inventory
        self._device = gateway_device
        self._execute = execute
        self.commands: dict[str, Command] = {
            "alarm.list": Command("viewer", False, self._alarm_list),
            "alarm.acknowledge": Command("guard", True, self._alarm_acknowledge),
            "alarm.reset": Command("guard", True, self._alarm_reset),
            "alarm.report": Command("guard", True, self._alarm_report),
            "drill.start": Command("supervisor", True, self._drill_start),
            "drill.stop": Command("supervisor", True, self._drill_stop),
            "device.list": Command("viewer", False, self._device_list),
            "device.action": Command("guard", True, self._device_action),
        }

    async def handle(self, name: str, raw: bytes, retained: bool) -> dict[str, Any]:
        """Run one request and return the response document ``{status, data, error}``."""
        correlation = ""
        operator = "?"
        args: dict[str, Any] = {}
        try:
            if retained:
                raise CommandError("bad_request", "retained requests are ignored; publish "
                                   "commands with retain=false")
            if len(raw) > MAX_REQUEST_BYTES:
                raise CommandError("bad_request", f"request is {len(raw)} bytes; the limit is "
                                   f"{MAX_REQUEST_BYTES}")
            try:
                body = RequestBody.model_validate_json(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "(body)"
                raise CommandError("bad_request", f"request {where}: {first['msg']}") from None
            correlation, operator, args = body.correlation_id, body.operator or "?", body.args
            command = self.commands.get(name)
            if command is None:
                raise CommandError("unknown_command",
                                   f"unknown command {name!r}; known: {sorted(self.commands)}")
            self._authorise(body, command)
            data = await command.handler(args, operator)
            if command.audited:
                self._record(operator, name, args, "ok")
            return {"correlation_id": correlation, "status": "ok", "data": data, "error": None}
        except (CommandError, AlarmError) as exc:
            code = exc.code if isinstance(exc, CommandError) else "refused"
            outcome = "denied" if code in {"unauthorised", "forbidden"} else "error"
            if code != "unknown_command" and (outcome == "denied" or name in self.commands):
                self._record(operator, name, args, outcome, str(exc))
            return {"correlation_id": correlation, "status": "error", "data": None,
                    "error": {"code": code, "message": str(exc)}}

    def _authorise(self, body: RequestBody, command: Command) -> None:
        op = self._operators.get(body.operator)
        if op is None or not hmac.compare_digest(token_digest(body.token), op.token_sha256):
            raise CommandError("unauthorised", "unknown operator or wrong token")
        if ROLES[op.role] < ROLES[command.role]:
            raise CommandError("forbidden",
                               f"operator {op.name!r} ({op.role}) may not do this; needs "
                               f"{command.role}")

    def _record(self, operator: str, name: str, args: dict[str, Any], outcome: str,
                error: str = "") -> None:
        op = self._operators.get(operator)
        audit = CommandAudit(operator=operator, role=op.role if op else "unknown", command=name,
                             args=args, outcome=outcome, error=error)
        event = Event(COMMAND_AUDIT, self._device, audit,
                      Severity.MINOR if outcome == "denied" else Severity.INFO)
        self._audit.write({"time": event.time.isoformat(), **audit.model_dump()})
        log.info("audit: %s %s %s %s", operator, name, outcome, error)
        self._emit(event)

    # -- handlers ------------------------------------------------------------------------

    async def _alarm_list(self, args: dict[str, Any], _by: str) -> Any:
        return [a.model_dump(mode="json") for a in self._alarms.open_alarms()]

    async def _alarm_acknowledge(self, args: dict[str, Any], by: str) -> Any:
        alarm = self._alarms.acknowledge(_arg(args, "alarm_id"), by, str(args.get("note", "")))
        return alarm.model_dump(mode="json")

    async def _alarm_reset(self, args: dict[str, Any], by: str) -> Any:
        alarm = self._alarms.reset(_arg(args, "alarm_id"), by, str(args.get("note", "")))
        return alarm.model_dump(mode="json")

    async def _alarm_report(self, args: dict[str, Any], by: str) -> Any:
        kind = _arg(args, "kind")
        if kind not in REPORT_KINDS:
            raise CommandError("bad_request", f"kind must be one of {list(REPORT_KINDS)}")
        return self._alarms.report(_arg(args, "alarm_id"), kind, by).model_dump(mode="json")

    async def _drill_start(self, args: dict[str, Any], by: str) -> Any:
        drill = self._drills.start(str(args.get("note", "")), by)
        self._emit(Event(DRILL_STARTED, self._device, drill))
        return drill.model_dump(mode="json")

    async def _drill_stop(self, args: dict[str, Any], by: str) -> Any:
        summary = self._drills.stop(by)
        self._emit(Event(DRILL_STOPPED, self._device, summary))
        return summary.model_dump(mode="json")

    async def _device_list(self, args: dict[str, Any], _by: str) -> Any:
        return self._inventory()

    async def _device_action(self, args: dict[str, Any], by: str) -> Any:
        """Drive an output, sync a transmitter's clock, ...: whatever the device's driver offers."""
        params = args.get("args", {})
        if not isinstance(params, dict):
            raise CommandError("bad_request", "argument 'args' must be an object")
        try:
            return await self._execute(_arg(args, "device"), _arg(args, "action"),
                                       {**params, "reason": f"command by {by}"})
        except ActionError as exc:
            raise CommandError("refused", str(exc)) from None
