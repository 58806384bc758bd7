"""The shift handover note: what the supervisor going off duty leaves for the next one.

It is a command, so the note is kept in the audit log (with who wrote it and when) like every
other act; the supervisor's view reads the latest notes back from there.
"""

from __future__ import annotations

from typing import Any

from gateway.commands import CommandError, Handler

NOTE_LIMIT = 800  # the audit keeps a command's arguments whole up to 1 KiB


async def handover(args: dict[str, Any], by: str) -> Any:
    note = args.get("note")
    if not isinstance(note, str) or not note.strip():
        raise CommandError("bad_request", "the handover note (note) is empty")
    if len(note) > NOTE_LIMIT:
        raise CommandError("bad_request", f"the handover note is {len(note)} characters; the "
                           f"limit is {NOTE_LIMIT}")
    return {"note": note, "by": by}


def handlers() -> dict[str, Handler]:
    return {"shift.handover": handover}
