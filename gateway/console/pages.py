"""What a page module needs from the console app to add its pages: render a page for a
session, require a signed-in operator of a role, and show a time in the site's zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse

from gateway.console.sessions import Session


@dataclass(frozen=True)
class Pages:
    page: Callable[..., HTMLResponse]  # (request, template, session, **context)
    signed_in: Callable[..., Session]  # (request, role="viewer")
    local: Callable[[datetime | str | None], str]
    zone: ZoneInfo
