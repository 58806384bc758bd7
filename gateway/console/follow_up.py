"""Follow-up pages: alarms closed with a report still owed (the guards' tasks, and their count
for every page), and the alarm history with search over what the gateway still holds."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.alarm_search import AlarmQuery, operators, search
from gateway.alarms import CONDITION_NAMES
from gateway.console.pages import Pages
from gateway.kernel.events import utcnow

if TYPE_CHECKING:
    from gateway.console.web import ConsoleParts

HISTORY_SHOWN = 500


def add_follow_up(app: FastAPI, parts: ConsoleParts, pages: Pages) -> None:
    alarms = parts.alarms

    @app.get("/tasks", response_class=HTMLResponse)
    async def tasks(request: Request) -> HTMLResponse:
        session = pages.signed_in(request)
        return pages.page(request, "tasks.html", session, tasks=alarms.tasks(), now=utcnow())

    @app.get("/api/tasks")
    async def task_list(request: Request) -> JSONResponse:
        pages.signed_in(request)
        return JSONResponse({"tasks": [a.model_dump(mode="json") for a in alarms.tasks()]})

    @app.get("/history", response_class=HTMLResponse)
    async def history(request: Request, since: str = "", until: str = "", zone: str = "",
                      condition: str = "", operator: str = "") -> HTMLResponse:
        session = pages.signed_in(request)
        held = alarms.held()
        query = AlarmQuery(since=local_time(since, pages.zone),
                           until=local_time(until, pages.zone), zone=zone[:64],
                           condition=condition[:64], operator=operator[:64])
        return pages.page(
            request, "history.html", session, found=search(held, query, HISTORY_SHOWN),
            held=len(held), limit=HISTORY_SHOWN,
            filters={"since": since[:32], "until": until[:32], "zone": query.zone,
                     "condition": query.condition, "operator": query.operator},
            zones=sorted({a.zone for a in held if a.zone}),
            conditions=sorted(CONDITION_NAMES),
            operators=sorted(set().union(*(operators(a) for a in held))))


def local_time(text: str, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` form value in the site's time zone, or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text[:32]).replace(tzinfo=zone)
    except ValueError:
        return None
