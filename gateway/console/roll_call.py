"""The evacuation roll call page: everybody the gates say is on campus, by name and category,
live as people pass, ticked off at the assembly point, printable and exported as CSV."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gateway.config import ROLES
from gateway.console.pages import Pages
from gateway.kernel.boundary import device_text

if TYPE_CHECKING:
    from gateway.console.web import ConsoleParts

# a cell a spreadsheet would run as a formula is written as text (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def add_roll_call(app: FastAPI, parts: ConsoleParts, pages: Pages) -> None:
    gates = {g.id: g.name for g in parts.site.access.gates if g.name}

    def roll(alarm: str = "") -> dict[str, Any]:
        evacuations = parts.evacuations
        if evacuations is None:
            raise HTTPException(404, "no roll call on this gateway")
        current = evacuations.current
        ticked = current.ticked if current else {}
        people = []
        for person in parts.access.roll_call():
            tick = ticked.get(person["person_id"])
            people.append({**person, "name": device_text(person["name"] or "", 128),
                           "since_local": pages.local(person["since"]),
                           "gate_name": gates.get(person["gate"], person["gate"]),
                           "ticked_by": tick.by if tick else None,
                           "ticked_at": pages.local(tick.at) if tick else None})
        counts: dict[str, list[int]] = {}  # category -> [on campus, ticked off]
        for person in people:
            count = counts.setdefault(person["category"], [0, 0])
            count[0] += 1
            count[1] += person["ticked_by"] is not None
        return {"evacuation": current.model_dump(mode="json") if current else None,
                "people": people, "counts": counts,
                "ticked": sum(1 for p in people if p["ticked_by"] is not None),
                "alarm": alarm[:64], "drill": parts.drills.active}

    @app.get("/evacuation", response_class=HTMLResponse)
    async def evacuation(request: Request, alarm: str = "") -> HTMLResponse:
        session = pages.signed_in(request)
        return pages.page(request, "evacuation.html", session, roll=roll(alarm),
                          boot_can_act=ROLES[session.role] >= ROLES["guard"])

    @app.get("/api/evacuation")
    async def evacuation_state(request: Request) -> JSONResponse:
        pages.signed_in(request)
        return JSONResponse(roll())

    @app.get("/evacuation.csv")
    async def evacuation_csv(request: Request) -> Response:
        pages.signed_in(request)
        state = roll()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["person_id", "name", "category", "gate", "since", "ticked_off",
                         "ticked_by", "ticked_at"])
        for p in state["people"]:
            writer.writerow([_cell(v) for v in (
                p["person_id"], p["name"], p["category"], p["gate_name"], p["since_local"],
                "yes" if p["ticked_by"] else "no", p["ticked_by"] or "", p["ticked_at"] or "")])
        evacuation = state["evacuation"]
        name = evacuation["evacuation_id"] if evacuation else "on-campus"
        # a BOM, so that Excel opens the Chinese names as UTF-8
        return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                                 "Cache-Control": "no-store"})


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
