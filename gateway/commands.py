"""Commands from the central platform, the console and the CLI: authorised, audited, answered.

A request is JSON on ``.../request/<name>``::

    {"id": "...", "issued_at": "2026-12-01T08:00:00Z", "expires_at": "2026-12-01T08:01:00Z",
     "correlation_id": "...", "operator": "guard1", "token": "...", "args": {...}}

In the order they are made, the checks are: not retained, not too large, well-formed, a known
command, an MQTT 5 response topic of our own (or an allowed prefix), the operator's token
(against the SHA-256 in the site file) and role, the operator's rate, the validity window
(``issued_at`` not ahead of our clock and ``expires_at``, default one minute later, not passed,
both give or take ``commands.clock_skew``), and an ``id`` never carried out before (the ids are
kept, across restarts, until their window has passed). Only then is the command carried out.

Every command that changes something, and every refusal, is written to the audit log and
published as ``campus.audit.command``; refusals beyond ``refusals_recorded_per_minute`` are
counted into one summary record, so a flood of bad requests fills neither disk nor stream.
Requests wait in a bounded queue for a few workers; a full queue answers ``busy`` at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from gateway.alarms import REPORT_KINDS, AlarmError, AlarmService, StateWriter
from gateway.audit import AuditLog, bounded_args
from gateway.command_table import COMMANDS
from gateway.config import ROLES, Operator
from gateway.config import Commands as CommandLimits
from gateway.drills import Drills
from gateway.kernel.boundary import BoundaryError, json_object
from gateway.kernel.events import (
    COMMAND_AUDIT,
    DRILL_STARTED,
    DRILL_STOPPED,
    CommandAudit,
    Event,
    Severity,
    utcnow,
)
from gateway.kernel.limits import KeyedBuckets, TokenBucket
from gateway.kernel.ports import ActionError
from gateway.mqtt_link import Request
from gateway.outbox import StateWrite

if TYPE_CHECKING:
    from gateway.supervisor import Pulse

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
DEFAULT_VALIDITY = timedelta(seconds=60)
# refusals that protect the gateway (audited as "denied"); the rest are errors of the request
DENIALS = frozenset({"unauthorised", "forbidden", "rate_limited", "replayed", "expired",
                     "not_yet_valid", "retained", "too_large", "bad_response_topic", "busy"})
ERROR_CODES = (*sorted(DENIALS), "bad_request", "unknown_command", "refused", "internal")
Response = dict[str, Any]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{8,64}$",
                    description="unique per request (a UUID, say); a repeated id is refused")
    issued_at: AwareDatetime = Field(description="when the sender made the request")
    expires_at: AwareDatetime | None = Field(
        default=None, description="refused after this; default issued_at + 60 s")
    correlation_id: str = Field(default="", max_length=128)
    operator: str = Field(default="", max_length=64)
    token: str = Field(default="", max_length=512)
    args: dict[str, Any] = {}


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[dict[str, Any], str], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    role: str
    audited: bool
    handler: Handler
    role_of: Callable[[dict[str, Any]], str] | None = None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def text_arg(args: dict[str, Any], name: str) -> str:
    """A required, non-empty string argument of a command."""
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise CommandError("bad_request", f"argument {name!r} (a string) is required")
    return value


def _document(raw: bytes) -> tuple[dict[str, Any] | None, BoundaryError | None]:
    """A request's body parsed once, bounded (``MAX_REQUEST_BYTES``, 32 levels deep), or why
    it could not be: everything after it (the correlation id of a refusal too) reads this."""
    try:
        return json_object(raw, what="request", max_bytes=MAX_REQUEST_BYTES), None
    except BoundaryError as exc:
        return None, exc


def _correlation_of(document: dict[str, Any] | None) -> str:
    """The correlation id of a request that is refused, if it has a readable one."""
    value = document.get("correlation_id") if document is not None else None
    return value if isinstance(value, str) and len(value) <= 128 else ""


class SeenRequests:
    """Ids of requests already carried out, until their validity has passed; kept in the state
    database (written with the outbox), so a restart does not open the door to a replay."""

    SCHEMA = "CREATE TABLE IF NOT EXISTS seen_requests (id TEXT PRIMARY KEY, until REAL NOT NULL)"

    def __init__(self, path: Path, writer: StateWriter) -> None:
        self._writer = writer
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            db.execute(self.SCHEMA)
            now = time.time()
            self._until = {i: u for i, u in db.execute("SELECT id, until FROM seen_requests")
                           if u > now}
        finally:
            db.close()
        self._pruned = time.monotonic()

    def __contains__(self, request_id: str) -> bool:
        until = self._until.get(request_id)
        return until is not None and until > time.time()

    def remember(self, request_id: str, until: datetime) -> None:
        self._until[request_id] = until.timestamp()
        self._writer.write(StateWrite("INSERT OR REPLACE INTO seen_requests (id, until)"
                                      " VALUES (?, ?)", (request_id, until.timestamp())))
        if time.monotonic() - self._pruned > 60:
            self._prune()

    def _prune(self) -> None:
        now = time.time()
        self._pruned = time.monotonic()
        self._until = {i: u for i, u in self._until.items() if u > now}
        self._writer.write(StateWrite("DELETE FROM seen_requests WHERE until <= ?", (now,)))


class CommandRouter:
    def __init__(
        self,
        operators: list[Operator],
        limits: CommandLimits,
        alarms: AlarmService,
        drills: Drills,
        audit: AuditLog,
        seen: SeenRequests,
        durable: Callable[[], Awaitable[None]],
        emit: Callable[[Event], None],
        inventory: Callable[[], list[dict[str, Any]]],
        gateway_device: str,
        execute: Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]],
        handlers: Mapping[str, Handler],
    ) -> None:
        self._operators = {op.name: op for op in operators}
        self._limits = limits
        self._alarms = alarms
        self._drills = drills
        self._audit = audit
        self._seen = seen
        self._durable = durable
        self._emit = emit
        self._inventory = inventory
        self._device = gateway_device
        self._execute = execute
        self._rates = KeyedBuckets(limits.per_operator.burst, limits.per_operator.per_second)
        per_minute = limits.refusals_recorded_per_minute
        self._refusals = TokenBucket(per_minute, per_minute / 60)
        self._unrecorded = 0
        bound: dict[str, Handler] = {
            "alarm.list": self._alarm_list,
            "alarm.acknowledge": self._alarm_acknowledge,
            "alarm.reset": self._alarm_reset,
            "alarm.report": self._alarm_report,
            "alarm.police_called": self._alarm_police_called,
            "drill.start": self._drill_start,
            "drill.stop": self._drill_stop,
            "device.list": self._device_list,
            "device.action": self._device_action,
            **handlers,
        }
        if set(bound) != set(COMMANDS):
            missing, extra = set(COMMANDS) - set(bound), set(bound) - set(COMMANDS)
            raise RuntimeError(f"commands without a handler: {sorted(missing)}; "
                               f"handlers without a command: {sorted(extra)}")
        self.commands: dict[str, Command] = {
            name: Command(spec.role, spec.audited, bound[name], spec.role_of)
            for name, spec in COMMANDS.items()}

    async def handle(self, request: Request) -> Response:
        """Check and run one request; the response document ``{status, data, error}``."""
        name = request.name
        correlation = ""
        operator = "?"
        role = "unknown"
        args: dict[str, Any] = {}
        try:
            document, problem = _document(request.payload)
            correlation = _correlation_of(document)
            if request.retained:
                raise CommandError("retained", "retained requests are ignored (they would run "
                                   "again at every reconnect); publish commands with retain=false")
            if document is None:
                assert problem is not None
                raise CommandError("too_large" if problem.status == 413 else "bad_request",
                                   str(problem))
            try:
                body = RequestBody.model_validate(document)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "(body)"
                raise CommandError("bad_request", f"request {where}: {first['msg']}") from None
            correlation, operator, args = body.correlation_id, body.operator or "?", body.args
            command = self.commands.get(name)
            if command is None:
                raise CommandError("unknown_command",
                                   f"unknown command {name!r}; known: {sorted(self.commands)}")
            if request.refused_response_topic is not None:
                raise CommandError("bad_response_topic", "the response topic "
                                   f"{request.refused_response_topic!r} is not one of this "
                                   "gateway's; answers go to its own response topics only")
            role = self._authenticate(body)
            self._permit(operator, role, command, args)
            expires = self._check_window(body)
            if body.id in self._seen:
                raise CommandError("replayed", f"request {body.id} was carried out already; "
                                   "every request needs an id of its own")
            # kept on disk before anything is done, so even a crash cannot make it run twice
            self._seen.remember(body.id, expires + timedelta(seconds=self._limits.clock_skew))
            await self._durable()
            return await self._run(correlation, operator, role, name, command, args, "mqtt")
        except (CommandError, AlarmError) as exc:
            return await self._refused(exc, correlation, operator, role, name, args, "mqtt")
        except Exception as exc:  # a defect still gets an answer, with the correlation id read
            log.exception("command %s failed", name)
            return self.refusal(correlation, "internal", f"{type(exc).__name__}: {exc}")

    async def act(self, operator: str, role: str, name: str, args: dict[str, Any],
                  source: str = "console") -> Response:
        """A command of an operator the console has authenticated (password, session, CSRF
        token): the same role check, rate, handlers and audit as a request."""
        command = self.commands.get(name)
        try:
            if command is None:
                raise CommandError("unknown_command", f"unknown command {name!r}")
            self._permit(operator, role, command, args)
            return await self._run("", operator, role, name, command, args, source)
        except (CommandError, AlarmError) as exc:
            return await self._refused(exc, "", operator, role, name, args, source)

    async def _run(self, correlation: str, operator: str, role: str, name: str,
                   command: Command, args: dict[str, Any], source: str) -> Response:
        data = await command.handler(args, operator)
        if command.audited:
            try:
                await self._record(operator, role, name, args, "ok", source=source,
                                   durably=True)
            except OSError as exc:
                return self.refusal(correlation, "internal", "carried out, but the audit log "
                                    f"could not be written: {exc}")
        return {"correlation_id": correlation, "status": "ok", "data": data, "error": None}

    async def _refused(self, exc: CommandError | AlarmError, correlation: str, operator: str,
                       role: str, name: str, args: dict[str, Any], source: str) -> Response:
        code = exc.code if isinstance(exc, CommandError) else "refused"
        if code != "unknown_command":
            outcome = "denied" if code in DENIALS else "error"
            await self._record(operator, role, name, args, outcome, str(exc), source=source)
        return self.refusal(correlation, code, str(exc),
                            exc.reason if isinstance(exc, AlarmError) else "")

    async def record(self, operator: str, role: str, what: str, outcome: str, error: str = "",
                     source: str = "console") -> None:
        """Audit something that is not a command (a console login, a lockout)."""
        await self._record(operator, role, what, {}, outcome, error, source=source)

    def busy(self, request: Request) -> Response:
        """The answer when the queue is full; counted like any other refusal."""
        self._count_refusal()
        return self.refusal(_correlation_of(_document(request.payload)[0]), "busy",
                            "too many requests are waiting; try again in a moment")

    @staticmethod
    def refusal(correlation: str, code: str, message: str, reason: str = "") -> Response:
        """``reason``: what a ``refused`` is about, for a console to word it (absent if none)."""
        error = {"code": code, "message": message, **({"reason": reason} if reason else {})}
        return {"correlation_id": correlation, "status": "error", "data": None, "error": error}

    def _authenticate(self, body: RequestBody) -> str:
        """The role of the request's operator, if its token is right."""
        op = self._operators.get(body.operator)
        if op is None or not hmac.compare_digest(token_digest(body.token), op.token_sha256):
            raise CommandError("unauthorised", "unknown operator or wrong token")
        return op.role

    def _permit(self, operator: str, role: str, command: Command,
                args: dict[str, Any]) -> None:
        needed = command.role
        if command.role_of is not None:  # the role this call needs (a device's action)
            needed = max(needed, command.role_of(args), key=ROLES.__getitem__)
        if ROLES.get(role, -1) < ROLES[needed]:
            raise CommandError("forbidden",
                               f"operator {operator!r} ({role}) may not do this; needs "
                               f"{needed}" + ("" if needed == command.role else
                                              f" for action {str(args.get('action'))[:64]!r}"))
        if not self._rates.take(operator):
            raise CommandError("rate_limited", f"operator {operator!r} sends more than "
                               f"{self._limits.per_operator.per_second:g} requests per second")

    def _check_window(self, body: RequestBody) -> datetime:
        """When the request stops being valid; CommandError if it is not valid now."""
        now = utcnow()
        skew = timedelta(seconds=self._limits.clock_skew)
        expires = body.expires_at or body.issued_at + DEFAULT_VALIDITY
        if expires <= body.issued_at:
            raise CommandError("bad_request", "expires_at is not after issued_at")
        if (expires - body.issued_at).total_seconds() > self._limits.max_validity:
            raise CommandError("bad_request", "a request may be valid for at most "
                               f"{self._limits.max_validity:g} s (issued_at to expires_at)")
        if body.issued_at > now + skew:
            raise CommandError("not_yet_valid", f"issued at {body.issued_at.isoformat()}, "
                               f"{(body.issued_at - now).total_seconds():.0f} s ahead of the "
                               "gateway's clock: check both clocks (NTP)")
        if now > expires + skew:
            raise CommandError("expired", f"expired at {expires.isoformat()}, "
                               f"{(now - expires).total_seconds():.0f} s ago")
        return expires

    def _count_refusal(self) -> bool:
        """Whether this refusal is recorded one by one (else it is only counted)."""
        if self._refusals.take():
            return True
        self._unrecorded += 1
        return False

    async def _record(self, operator: str, role: str, name: str, args: dict[str, Any],
                      outcome: str, error: str = "", source: str = "mqtt",
                      durably: bool = False) -> None:
        if outcome != "ok" and not self._count_refusal():
            return
        records = []
        if self._unrecorded:
            records.append(CommandAudit(
                operator="*", role="unknown", command="*", args={}, outcome="denied",
                error=f"{self._unrecorded} more refused requests, not recorded one by one "
                "(over commands.refusals_recorded_per_minute)"))
            self._unrecorded = 0
        records.append(CommandAudit(operator=operator, role=role, command=name,
                                    args=bounded_args(args), outcome=outcome,
                                    error=error[:1024], source=source))
        for audit in records:
            event = Event(COMMAND_AUDIT, self._device, audit,
                          Severity.MINOR if audit.outcome == "denied" else Severity.INFO)
            record = {"time": event.time.isoformat(), **audit.model_dump()}
            log.info("audit: %s %s %s %s", audit.operator, audit.command, audit.outcome,
                     audit.error, extra={"alarm_id": (audit.args or {}).get("alarm_id")})
            self._emit(event)
            if durably:
                await self._audit.record_durably(record)
            else:
                self._audit.record(record)

    # -- handlers ------------------------------------------------------------------------

    async def _alarm_list(self, args: dict[str, Any], _by: str) -> Any:
        return [a.model_dump(mode="json") for a in self._alarms.open_alarms()]

    async def _alarm_acknowledge(self, args: dict[str, Any], by: str) -> Any:
        alarm = self._alarms.acknowledge(text_arg(args, "alarm_id"), by, str(args.get("note", "")))
        return alarm.model_dump(mode="json")

    async def _alarm_reset(self, args: dict[str, Any], by: str) -> Any:
        alarm = self._alarms.reset(text_arg(args, "alarm_id"), by, str(args.get("note", "")))
        return alarm.model_dump(mode="json")

    async def _alarm_report(self, args: dict[str, Any], by: str) -> Any:
        kind = text_arg(args, "kind")
        if kind not in REPORT_KINDS:
            raise CommandError("bad_request", f"kind must be one of {list(REPORT_KINDS)}")
        return self._alarms.report(text_arg(args, "alarm_id"), kind, by).model_dump(mode="json")

    async def _alarm_police_called(self, args: dict[str, Any], by: str) -> Any:
        alarm = self._alarms.police_called(text_arg(args, "alarm_id"), by,
                                           str(args.get("note", "")))
        return alarm.model_dump(mode="json")

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
            return await self._execute(text_arg(args, "device"), text_arg(args, "action"),
                                       {**params, "reason": f"command by {by}"})
        except ActionError as exc:
            raise CommandError("refused", str(exc)) from None


class CommandQueue:
    """Requests wait here for one of ``workers``; a full queue answers ``busy`` at once.

    Device facts go before command work: a worker gives the event loop back between requests,
    and nothing a request does (the audit's fsync, the replay cache's commit) blocks the loop.
    """

    def __init__(self, router: CommandRouter, respond: Callable[[Request, Response], None],
                 limits: CommandLimits) -> None:
        self._router = router
        self._respond = respond
        self._limits = limits
        self._queue: asyncio.Queue[Request] = asyncio.Queue(limits.queue)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[Request] = []  # arrived before the first worker (a retained request)
        self._lock = threading.Lock()

    def offer(self, request: Request) -> None:
        """Hand in a request, from any thread (the MQTT network thread). One that arrives
        before the workers run (the broker hands retained and queued requests over as soon as
        the link subscribes) waits for them, so every request is answered."""
        with self._lock:
            loop = self._loop
            if loop is None and len(self._early) < self._limits.queue:
                self._early.append(request)
                return
        if loop is None:
            self._respond(request, self._router.busy(request))
            return
        loop.call_soon_threadsafe(self._enqueue, request)

    def _enqueue(self, request: Request) -> None:
        try:
            self._queue.put_nowait(request)
        except asyncio.QueueFull:
            self._respond(request, self._router.busy(request))

    @property
    def workers(self) -> int:
        return self._limits.workers

    async def work(self, pulse: Pulse) -> None:
        """One worker, a supervised part of its own: requests one at a time until cancelled.
        Resting while it waits, so only a request that hangs makes it stall; a request it was
        carrying out when it was cancelled is still answered, so no sender waits for nothing."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            early, self._early = self._early, []
        for request in early:
            self._enqueue(request)
        while True:
            pulse.rest()
            request = await self._queue.get()
            pulse.beat()
            try:
                response = await self._router.handle(request)
            except asyncio.CancelledError:
                self._respond(request, self._router.refusal(
                    "", "internal", f"command {request.name} was stopped before it finished "
                    "(the gateway stopped, or the command hung)"))
                raise
            except Exception as exc:  # handle() answers its own defects; this is the last net
                log.exception("command %s failed", request.name)
                response = self._router.refusal("", "internal", f"{type(exc).__name__}: {exc}")
            self._respond(request, response)
            await asyncio.sleep(0)
