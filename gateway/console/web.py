"""The console's HTTP side: pages, the live stream, and actions, as one FastAPI app.

Pages are rendered on the server (Jinja2); the page script (``static/console.js``) loads the
state once (``/api/state``), follows ``/api/stream`` (server-sent events, replayed from
``Last-Event-ID`` after a reconnect) and sends actions to ``/api/command/<name>``, which hands
them to the command router with the session's operator and role: the same authorisation, rate
limits, audit record and events as an MQTT request. Every POST needs the session's CSRF token in
``X-CSRF-Token`` (the login form a double-submitted one); a refused POST is answered 403 and
audited. An action from a session whose authority to act has lapsed (``sessions.py``) is
answered 401 ``reauth``: the page asks for the password (``/api/reauth``) and sends it again.
No asset comes from the internet: everything is served from ``static/``. Camera snapshots and
clips are served at ``/media/<id>`` to a session or to an operator token (``Authorization:
Bearer``, as the site file's ``operators`` hold it), never cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import io
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import segno
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.access.control import AccessControl
from gateway.access.evacuation import Evacuations
from gateway.alarms import AlarmService
from gateway.commands import CommandRouter, token_digest
from gateway.config import IMAGE_TYPES, ROLES, SiteConfig
from gateway.console.bodies import BodyLimits
from gateway.console.feed import LiveFeed
from gateway.console.follow_up import add_follow_up
from gateway.console.i18n import LANGUAGES, catalogue, pick
from gateway.console.operators import ConsoleOperators
from gateway.console.pages import Pages
from gateway.console.roll_call import add_roll_call
from gateway.console.sessions import LoginGuard, Session, Sessions
from gateway.console.standing import Standing
from gateway.console.supervision import add_supervision
from gateway.console.tone import alarm_wav
from gateway.console.video import add_video_routes
from gateway.drills import Drills
from gateway.kernel.boundary import BoundaryError, json_object
from gateway.media import LiveViews, MediaStore
from gateway.outbox import OutboxStats

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "campus_session"
LOGIN_COOKIE = "campus_login"
WATCH = 1.0  # how often an open stream looks at its session (and keeps it alive)
AUDIT_SHOWN = 500
EVENTS_SHOWN = 500
# the most a request may send, by route: a login is three short fields, a command a small
# document (its args at most 16 KiB), anything else next to nothing
LOGIN_BODY, LOGIN_FIELDS, LOGIN_FIELD = 4096, 4, 512
COMMAND_BODY, COMMAND_ARGS = 64 * 1024, 16 * 1024
SMALL_BODY = 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; media-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass
class ConsoleParts:
    """What the console reads and acts through; it owns none of it."""

    site: SiteConfig
    alarms: AlarmService
    router: CommandRouter
    drills: Drills
    feed: LiveFeed
    online: dict[str, bool]
    outbox_stats: Callable[[], OutboxStats]
    broker_connected: Callable[[], bool]
    inventory: Callable[[], list[dict[str, Any]]]
    operators: ConsoleOperators
    audit_path: Path
    access: AccessControl
    media: MediaStore | None = None
    parts: Callable[[], list[dict[str, Any]]] = lambda: []  # the supervisor's health of each
    evacuations: Evacuations | None = None  # the evacuation roll call
    live: LiveViews | None = None  # the cameras' live views (console/video.py)


class Forbidden(Exception):
    pass


def build_app(parts: ConsoleParts, secure: bool) -> FastAPI:
    site = parts.site
    config = site.console
    site_zone = ZoneInfo(site.site.timezone)
    sessions = Sessions(config.session_idle, parts.operators)
    guard = LoginGuard(config.login_attempts, config.lockout)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    tone = alarm_wav()
    app = FastAPI(title="campus-gateway console", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.sessions = sessions
    standing = app.state.standing = Standing(parts)  # the status strip; Console.run runs it
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(BodyLimits, limit_of=_body_limit)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    def session_of(request: Request) -> Session | None:
        return sessions.get(request.cookies.get(COOKIE))

    def local(value: datetime | str | None) -> str:
        if isinstance(value, str):  # an ISO time, as the supervisor's health gives it
            value = datetime.fromisoformat(value) if value else None
        return value.astimezone(site_zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    # what the guard does for each condition (the site file's instructions), for every card
    instructions = {name: i.model_dump() for name, i in site.instructions.items()}
    gate_names = {g.id: g.name for g in site.access.gates if g.name}
    zone_names = {**gate_names, **config.zones}

    def zone_name(zone: str) -> str:
        return zone_names.get(zone, zone) if zone else "—"

    def gate_name(gate: str) -> str:
        return gate_names.get(gate, gate)

    # a device (a camera, say) by the name the site file gives it, not by its id or source token
    # read when first asked for (the site file's names do not change while the gateway runs)
    @functools.cache
    def device_names() -> dict[str, str]:
        return {d["id"]: d["name"] for d in parts.inventory() if d.get("name")}

    def device_name(device: str) -> str:
        return device_names().get(device, device)

    def page(request: Request, name: str, session: Session, **context: Any) -> HTMLResponse:
        text = catalogue(session.language)
        boot = {"csrf": session.csrf, "operator": session.operator, "role": session.role,
                "can_act": ROLES[session.role] >= ROLES["guard"],
                "language": session.language, "timezone": site.site.timezone, "text": text,
                "site": site.site.name or site.site.id,
                "instructions": instructions, "zones": zone_names, "devices": device_names()}
        return templates.TemplateResponse(request, name, {
            "t": text, "session": session, "boot": boot,
            "site": site, "local": local, "page": name.removesuffix(".html"),
            "is_supervisor": session.role == "supervisor", "zone_name": zone_name,
            "gate_name": gate_name, "device_name": device_name, **context})

    def signed_in(request: Request, role: str = "viewer") -> Session:
        session = session_of(request)
        if session is None:
            raise HTTPException(303, headers={"Location": "/login"})
        if ROLES[session.role] < ROLES[role]:
            raise HTTPException(403, "not for your role")
        return session

    # -- login ----------------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, error: str = "") -> HTMLResponse:
        language = pick(request.headers.get("accept-language", ""), config.language)
        token = secrets.token_urlsafe(24)
        response = templates.TemplateResponse(request, "login.html", {
            "t": catalogue(language), "csrf": token, "error": error, "site": site,
            "language": language})
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=secure, max_age=600)
        return response

    @app.post("/login")
    async def login(request: Request) -> Response:
        # no file parts, a few short fields: python-multipart never spools to disk here
        name, password, csrf = _login_fields(await request.form(
            max_files=0, max_fields=LOGIN_FIELDS, max_part_size=LOGIN_FIELD))
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(expected, csrf):
            await parts.router.record(name, "unknown", "console.login", "denied",
                                      "no or wrong CSRF token on the login form")
            return RedirectResponse("/login?error=login_failed", 303)
        address = request.client.host if request.client else "?"
        refusal = guard.refusal(name, address)
        if refusal:
            await parts.router.record(name, "unknown", "console.login", "denied",
                                      f"throttled: {refusal}")
            return RedirectResponse("/login?error=login_throttled", 303)
        operator = await asyncio.to_thread(parts.operators.verify, name, password)
        if operator is None:
            wait = guard.failed(name, address)
            await parts.router.record(name, "unknown", "console.login", "denied",
                                      f"wrong name or password (from {address})"
                                      + (f"; its next try waits {wait:.0f} s" if wait else ""))
            return RedirectResponse(
                f"/login?error={'login_wait' if wait else 'login_failed'}", 303)
        guard.succeeded(name, address)
        language = operator.language or pick(request.headers.get("accept-language", ""),
                                             config.language)
        sid, _ = sessions.open(operator.name, operator.role, language, operator.generation)
        await parts.router.record(operator.name, operator.role, "console.login", "ok",
                                  f"from {address}")
        response = RedirectResponse("/", 303)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=secure)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session = session_of(request)
        if session is not None:
            check_csrf(request, session)
            sessions.close(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE)
        return response

    def check_csrf(request: Request, session: Session) -> None:
        sent = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent, session.csrf):
            raise Forbidden("missing or wrong CSRF token")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        session = session_of(request)
        await parts.router.record(session.operator if session else "?",
                                  session.role if session else "unknown",
                                  f"console {request.method} {request.url.path}"[:80],
                                  "denied", str(exc))
        return JSONResponse({"status": "error", "error": {"code": "forbidden",
                                                          "message": str(exc)}}, 403)

    @app.exception_handler(BoundaryError)
    async def refused_body(request: Request, exc: BoundaryError) -> JSONResponse:
        code = "too_large" if exc.status == 413 else "bad_request"
        return JSONResponse({"status": "error", "error": {"code": code, "message": str(exc)}},
                            exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def refused_page(request: Request, exc: StarletteHTTPException) -> Response:
        """A page a signed-in operator may not see, or one that is gone, answers a page that
        says so (the API and media keep their JSON answers)."""
        session = session_of(request)
        if (session is None or request.method != "GET" or exc.status_code not in (403, 404)
                or request.url.path.startswith(("/api/", "/media/", "/static/", "/video/"))):
            return await http_exception_handler(request, exc)
        response = page(request, "refused.html", session, status=exc.status_code,
                        reason="not_for_role" if exc.status_code == 403 else "page_gone")
        response.status_code = exc.status_code
        return response

    # -- pages ----------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def board(request: Request) -> HTMLResponse:
        return page(request, "board.html", signed_in(request))

    @app.get("/alarms/{alarm_id}", response_class=HTMLResponse)
    async def alarm_detail(request: Request, alarm_id: str) -> HTMLResponse:
        session = signed_in(request)
        alarm = parts.alarms.find(alarm_id)  # open, a follow-up task, or in the history
        if alarm is None:
            response = page(request, "refused.html", session, status=404, reason="alarm_gone")
            response.status_code = 404
            return response
        related = [e for e in parts.feed.events
                   if e.event.subject == alarm_id
                   or (e.event.device_id == alarm.device_id and e.event.subject == alarm.point)
                   or getattr(e.event.payload, "alarm_id", None) == alarm_id]
        return page(request, "alarm.html", session, alarm=alarm, related=related[-200:])

    @app.get("/map", response_class=HTMLResponse)
    async def campus_map(request: Request) -> HTMLResponse:
        return page(request, "map.html", signed_in(request), campus=config.map)

    @app.get("/map/image")
    async def map_image(request: Request) -> Response:
        signed_in(request)
        if config.map is None:
            raise HTTPException(404, "no map")
        path = config.map.image
        return Response(path.read_bytes(), media_type=IMAGE_TYPES[path.suffix.lower()])

    @app.get("/devices", response_class=HTMLResponse)
    async def devices(request: Request) -> HTMLResponse:
        session = signed_in(request)
        return page(request, "devices.html", session, devices=parts.inventory(),
                    online=parts.online, since=parts.feed.online_since,
                    last={**parts.feed.last_report, **{
                        d: datetime.fromtimestamp(t, UTC)
                        for d, t in parts.feed.last_answer.items()}},
                    outbox=parts.outbox_stats(),
                    broker=parts.broker_connected(),
                    gateway_parts=parts.parts())

    @app.get("/events", response_class=HTMLResponse)
    async def events(request: Request, type: str = "", zone: str = "", device: str = "",
                     since: str = "", until: str = "") -> HTMLResponse:
        session = signed_in(request)
        start, end = _local_time(since, site_zone), _local_time(until, site_zone)
        shown = [e for e in reversed(parts.feed.events)
                 if (not type or type in e.event.type.name)
                 and (not zone or e.zone == zone)
                 and (not device or e.event.device_id == device)
                 and (start is None or e.event.time >= start)
                 and (end is None or e.event.time <= end)][:EVENTS_SHOWN]
        return page(request, "events.html", session, shown=shown,
                    filters={"type": type, "zone": zone, "device": device, "since": since,
                             "until": until})

    @app.get("/audit", response_class=HTMLResponse)
    async def audit(request: Request) -> HTMLResponse:
        session = signed_in(request, "supervisor")
        records = await asyncio.to_thread(_tail_jsonl, parts.audit_path, AUDIT_SHOWN)
        return page(request, "audit.html", session, records=list(reversed(records)))

    @app.get("/access", response_class=HTMLResponse)
    async def access(request: Request, visit: str = "") -> HTMLResponse:
        session = signed_in(request)
        control = parts.access
        roll = control.roll_call()
        counts: dict[str, int] = {}
        for person in roll:
            counts[person["category"]] = counts.get(person["category"], 0) + 1
            since = person["since"]
            person["since_local"] = local(datetime.fromisoformat(since)) if since else ""
        visits = [v for v in control.ledger.visits.values() if not v.closed or v.on_campus]
        # the pass code is shown once, to a guard, right after registering the visit
        shown = control.ledger.visits.get(visit) if ROLES[session.role] >= ROLES["guard"] \
            else None
        return page(request, "access.html", session, gates={
            "lockdown": control.modes.lockdown, "fire_release": control.modes.fire_release,
            "gates": control.modes.states()}, visits=visits, roll=roll, counts=counts,
            pass_visit=shown, status=control.status(),
            boot_can_act=ROLES[session.role] >= ROLES["guard"])

    @app.get("/access/visits/{visit_id}/qr.svg")
    async def visit_qr(request: Request, visit_id: str) -> Response:
        signed_in(request, "guard")
        visit = parts.access.ledger.visits.get(visit_id)
        if visit is None:
            raise HTTPException(404, "no such open visit")
        buffer = io.BytesIO()
        segno.make_qr(visit.pass_code, error="m").save(buffer, kind="svg", scale=6, border=4)
        return Response(buffer.getvalue(), media_type="image/svg+xml")

    @app.get("/media/{media_id}")
    async def media(request: Request, media_id: str) -> Response:
        if session_of(request) is None and not operator_token(request):
            raise HTTPException(401, "log in, or send Authorization: Bearer <operator token>",
                                headers={"WWW-Authenticate": "Bearer"})
        item = parts.media.get(media_id) if parts.media is not None else None
        if item is None:
            raise HTTPException(404, "no such media")
        return FileResponse(item.path, media_type=item.content_type,
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def operator_token(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        digest = token_digest(token.strip())
        return any(hmac.compare_digest(digest, op.token_sha256) for op in site.operators)

    @app.get("/favicon.ico")
    async def favicon() -> Response:  # asked for by browsers whatever the page links
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})

    # video beside the alarm: the cameras page, an alarm's pictures, live views (video.py)
    add_video_routes(app, parts, page=page, signed_in=signed_in, session_of=session_of,
                     operator_token=operator_token)

    @app.get("/sound/alarm.wav")
    async def sound() -> Response:
        return Response(tone, media_type="audio/wav",
                        headers={"Cache-Control": "max-age=86400"})

    # -- the page script's API --------------------------------------------------------------------

    @app.get("/api/state")
    async def state(request: Request) -> JSONResponse:
        session = signed_in(request)
        drill = parts.drills.current
        return JSONResponse({
            "last_id": parts.feed.last_id,
            "alarms": [a.model_dump(mode="json") for a in parts.alarms.open_alarms()],
            "online": parts.online,
            "drill": drill.model_dump(mode="json") if drill else None,
            "markers": [m.model_dump(mode="json") for m in config.map.markers]
            if config.map else [],
            "operator": session.operator, "role": session.role,
            "standing": standing.snapshot(),
        })

    @app.get("/api/stream", response_class=EventSourceResponse)
    async def stream(request: Request, session: Annotated[Session, Depends(_viewer)],
                     after: str = "") -> AsyncIterator[ServerSentEvent]:
        last = request.headers.get("last-event-id") or after
        queue, missed = parts.feed.subscribe(last)
        try:
            yield ServerSentEvent(comment="hello", retry=1000)
            for old in missed:
                yield ServerSentEvent(raw_data=old.json(), event=old.kind, id=old.id)
            while parts.feed.subscribed(queue):
                try:  # the session is looked at every second: a disable ends every page at once
                    async with asyncio.timeout(WATCH):
                        update = await queue.get()
                except TimeoutError:
                    if session_of(request) is None:  # this also keeps an open board's session
                        yield ServerSentEvent(raw_data="{}", event="ended")
                        return  # logged out or disabled: the page goes to the login
                    continue
                if update is None:
                    return
                if session_of(request) is None:
                    yield ServerSentEvent(raw_data="{}", event="ended")
                    return  # the session ended (its operator disabled, say): so does the stream
                yield ServerSentEvent(raw_data=update.json(), event=update.kind, id=update.id)
        finally:
            parts.feed.unsubscribe(queue)

    @app.post("/api/command/{name}")
    async def command(request: Request, name: str) -> JSONResponse:
        session = session_of(request)
        if session is None:
            raise HTTPException(401, "log in first")
        check_csrf(request, session)
        body = json_object(await request.body(), what=f"the body of command {name[:64]!r}",
                           max_bytes=COMMAND_BODY)
        args = body.get("args", {})
        if not isinstance(args, dict) or len(json.dumps(args)) > COMMAND_ARGS:
            return JSONResponse({"status": "error", "error": {
                "code": "bad_request", "message": "send {\"args\": {...}} (at most 16 KiB)"}},
                400)
        why = sessions.renewal(session)
        if why:  # the board stays; the page asks for the password and sends this again
            return JSONResponse({"status": "error", "error": {
                "code": "reauth", "reason": why,
                "message": f"give your password again before acting ({why})"}}, 401)
        sessions.acted(session)
        answer = await parts.router.act(session.operator, session.role, name, args)
        status = 200 if answer["status"] == "ok" else (
            403 if answer["error"]["code"] in ("forbidden", "unauthorised") else
            429 if answer["error"]["code"] == "rate_limited" else 409)
        return JSONResponse(answer, status)

    @app.post("/api/reauth")
    async def reauth(request: Request) -> JSONResponse:
        """The operator's password again, given in place on an open page (duty session)."""
        session = session_of(request)
        if session is None:
            raise HTTPException(401, "log in first")
        check_csrf(request, session)
        body = json_object(await request.body(), what="the re-authentication",
                           max_bytes=SMALL_BODY)
        password = body.get("password")
        if not isinstance(password, str) or not 0 < len(password) <= 256:
            raise BoundaryError("the re-authentication needs a password (at most 256 "
                                "characters)")
        address = request.client.host if request.client else "?"
        refusal = guard.refusal(session.operator, address)
        if refusal:
            await parts.router.record(session.operator, session.role, "console.reauth",
                                      "denied", f"throttled: {refusal}")
            return JSONResponse({"status": "error", "error": {
                "code": "login_throttled", "message": refusal}}, 429)
        operator = await asyncio.to_thread(parts.operators.verify, session.operator, password)
        if operator is None:
            wait = guard.failed(session.operator, address)
            await parts.router.record(session.operator, session.role, "console.reauth",
                                      "denied", f"wrong password (from {address})")
            return JSONResponse({"status": "error", "error": {
                "code": "login_wait" if wait else "login_failed",
                "message": "wrong password"}}, 401)
        guard.succeeded(session.operator, address)
        sessions.renewed(request.cookies.get(COOKIE, ""), session, operator.generation)
        await parts.router.record(session.operator, session.role, "console.reauth", "ok",
                                  f"from {address}")
        return JSONResponse({"status": "ok"})

    @app.post("/api/language")
    async def language(request: Request) -> JSONResponse:
        session = signed_in(request)
        check_csrf(request, session)
        body = json_object(await request.body(), what="the language request",
                           max_bytes=SMALL_BODY)
        chosen = body.get("language")
        if chosen not in LANGUAGES:
            raise HTTPException(400, f"language must be one of {LANGUAGES}")
        session.language = str(chosen)
        session.saved = 0.0  # written with the next request
        with contextlib.suppress(Exception):  # the operator may be gone; the session stays
            await asyncio.to_thread(parts.operators.set_language, session.operator, chosen)
        return JSONResponse({"language": chosen})

    pages = Pages(page, signed_in, local, site_zone)
    add_follow_up(app, parts, pages)
    add_roll_call(app, parts, pages)
    add_supervision(app, parts, pages, _tail_jsonl)
    return app


def _body_limit(method: str, path: str) -> int:
    if method == "POST" and path == "/login":
        return LOGIN_BODY
    if method == "POST" and path.startswith("/api/command/"):
        return COMMAND_BODY
    return SMALL_BODY


def _login_fields(form: FormData) -> tuple[str, str, str]:
    """The login form's name, password and CSRF token (each a short text field)."""
    fields = []
    for key, longest in (("name", 64), ("password", 256), ("csrf", 128)):
        value = form.get(key)
        if not isinstance(value, str) or not value:
            raise BoundaryError(f"the login form needs a {key} field")
        if len(value) > longest:
            raise BoundaryError(f"the login form's {key} is {len(value)} characters; the "
                                f"limit is {longest}")
        fields.append(value)
    return fields[0], fields[1], fields[2]


def _viewer(request: Request) -> Session:
    """The session of a stream's request (a dependency: checked before the stream starts)."""
    sessions: Sessions = request.app.state.sessions
    session = sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise HTTPException(401, "log in first")
    return session


def _local_time(text: str, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` form value in the site's time zone, or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=zone)
    except ValueError:
        return None


def _tail_jsonl(path: Path, count: int) -> list[dict[str, Any]]:
    """The last ``count`` records of the audit log (and of its last rotated file if needed)."""
    lines: list[bytes] = []
    for file_path in (path, path.with_name(path.name + ".1")):
        if len(lines) >= count or not file_path.exists():
            break
        with file_path.open("rb") as file:
            file.seek(0, 2)
            size = file.tell()
            file.seek(max(0, size - 400 * count))
            lines = file.read().splitlines()[-(count - len(lines)):] + lines
    out = []
    for line in lines[-count:]:
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out
