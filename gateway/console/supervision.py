"""The supervisor's view: the shift's alarm load as ISA-18.2 counts it, and the shift handover
notes (each one a ``shift.handover`` command, so kept in the audit log)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from gateway.alarm_load import FLOOD_ALARMS, FLOOD_WINDOW, STANDING_AFTER, alarm_load
from gateway.console.follow_up import local_time
from gateway.console.pages import Pages
from gateway.kernel.events import utcnow

if TYPE_CHECKING:
    from gateway.console.web import ConsoleParts

SHIFT = timedelta(hours=12)  # the view's default: the last twelve hours
LONGEST = timedelta(days=31)  # a longer window is cut to its last 31 days (an hour a row)
NOTES_SHOWN = 5
AUDIT_READ = 2000  # audit records looked through for the latest handover notes


def add_supervision(app: FastAPI, parts: ConsoleParts, pages: Pages,
                    tail: Any) -> None:
    @app.get("/supervisor", response_class=HTMLResponse)
    async def supervisor(request: Request, since: str = "", until: str = "") -> HTMLResponse:
        session = pages.signed_in(request, "supervisor")
        now = utcnow()
        end = local_time(until, pages.zone) or now
        start = local_time(since, pages.zone) or end - SHIFT
        if start >= end:
            start = end - SHIFT
        start = max(start, end - LONGEST)
        load = alarm_load(parts.alarms.held(), start, end, now)
        records = await asyncio.to_thread(tail, parts.audit_path, AUDIT_READ)
        notes = [r for r in reversed(records)
                 if r.get("command") == "shift.handover" and r.get("outcome") == "ok"]
        return pages.page(
            request, "supervisor.html", session, load=load, notes=notes[:NOTES_SHOWN],
            filters={"since": start.astimezone(pages.zone).strftime("%Y-%m-%dT%H:%M"),
                     "until": end.astimezone(pages.zone).strftime("%Y-%m-%dT%H:%M")},
            flood_alarms=FLOOD_ALARMS, flood_minutes=int(FLOOD_WINDOW.total_seconds() // 60),
            standing_hours=int(STANDING_AFTER.total_seconds() // 3600))
