"""What a DC-09 block says: an alarm or its restore in SIA DC-03 (``SIA-DCS``) or Contact ID
(``ADM-CID``) words, and the table that maps the gateway's alarm conditions to their codes.

SIA-DCS data: ``#acct|Nri<group>/<code><zone>^<text>^`` (a two-letter event code, the zone
number, a readable text). Contact ID: ``#acct|Q EEE GG ZZZ`` written ``QEEE GG ZZZ``: the
qualifier (1 new event, 3 restore), the three-digit event, the group and the zone (Contact ID
has no text). The table is data: the defaults below, overridden per condition by the site
file's ``alarm_centre.codes`` (documented in the README's code table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field

from gateway.kernel.fields import Strict

TEXT_LIMIT = 64  # a receiver's screen line; the rest is at the console


class Code(Strict):
    """The codes of one condition: SIA's event and restore, Contact ID's event."""

    sia: str = Field(pattern=r"^[A-Z]{2}$", description="SIA DC-03 event code, e.g. PA")
    restore: str | None = Field(default=None, pattern=r"^[A-Z]{2}$",
                                description="SIA code of its restore, e.g. PR (none: the "
                                            "condition has no restore, as a start-up)")
    cid: int = Field(ge=100, le=999, description="Contact ID event code, e.g. 120")


# condition (gateway.alarms) -> codes; "startup" is the gateway's own start, not an alarm
DEFAULT_CODES: dict[str, Code] = {
    "panic": Code(sia="PA", restore="PR", cid=120),  # panic alarm
    "fire": Code(sia="FA", restore="FR", cid=110),  # fire alarm
    "tamper": Code(sia="TA", restore="TR", cid=137),  # tamper
    "line_fault": Code(sia="UT", restore="UJ", cid=380),  # zone (sensor) trouble
    "comm_fault": Code(sia="ET", restore="ER", cid=333),  # expansion module (device) failure
    "fault": Code(sia="FT", restore="FJ", cid=373),  # fire trouble
    "power_fault": Code(sia="AT", restore="AR", cid=301),  # AC power loss
    "reader_power": Code(sia="AT", restore="AR", cid=301),
    "door_forced": Code(sia="DF", restore="DR", cid=423),  # door forced
    "intrusion": Code(sia="BA", restore="BR", cid=130),  # burglary
    "storage_full": Code(sia="YX", restore="YZ", cid=300),  # service required (system trouble)
    "startup": Code(sia="RR", cid=305),  # power-up / system reset
}


@dataclass(frozen=True)
class Report:
    """One thing to tell the centre: a condition raised (or restored) at a zone."""

    condition: str
    restore: bool
    zone: int
    text: str = ""


def sia_data(account: str, report: Report, code: Code, group: int) -> str:
    event = code.restore if report.restore else code.sia
    if event is None:
        raise ValueError(f"{report.condition} has no SIA restore code")
    text = safe_text(report.text)
    return f"#{account}|Nri{group}/{event}{report.zone:03d}" + (f"^{text}^" if text else "")


def cid_data(account: str, report: Report, code: Code, group: int) -> str:
    return f"#{account}|{3 if report.restore else 1}{code.cid:03d} {group:02d} {report.zone:03d}"


def safe_text(value: str) -> str:
    """A text a DC-09 block can carry: printable ASCII without its delimiters, capped."""
    kept = "".join(c if " " <= c <= "~" and c not in '[]|^"#' else "?" for c in value)
    return kept[:TEXT_LIMIT].strip()


@dataclass(frozen=True)
class Heard:
    """One event a receiver read from a block's data."""

    code: str  # SIA code, or Contact ID's qualifier and event ("1120", "3120")
    zone: int
    group: int
    text: str = ""


_SIA = re.compile(r"^N?ri(?P<group>\d{1,4})/?(?P<code>[A-Z]{2})(?P<zone>\d{0,4})"
                  r"(?:\^(?P<text>[^^]*)\^)?$")
_CID = re.compile(r"^(?P<q>[136])(?P<event>\d{3}) (?P<group>\d{2}) (?P<zone>\d{3})$")


def heard(message_id: str, data: str) -> Heard | None:
    """The event in a block's data (after any ``#acct|``), or None if it is not one."""
    _, _, event = data.rpartition("|")
    if message_id == "SIA-DCS" and (m := _SIA.match(event)):
        return Heard(m["code"], int(m["zone"] or 0), int(m["group"]), m["text"] or "")
    if message_id == "ADM-CID" and (m := _CID.match(event)):
        return Heard(m["q"] + m["event"], int(m["zone"]), int(m["group"]))
    return None
