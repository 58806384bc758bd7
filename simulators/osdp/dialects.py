"""How OSDP readers behave in the field, spoken on demand (a reader stanza's ``simulator:``
block: a named dialect from ``DIALECTS``, or these options one by one).

* ``reply_delay``: every reply goes on the line this late. OSDP v2.2 (Timing) has the PD reply
  within 200 ms, typically within 3 ms; long RS-485 runs and serial-to-Ethernet converters that
  buffer answer in 100-300 ms. libosdp 3.2's Control Panel waits 200 ms (``OSDP_RESP_TOUT_MS``).
* ``status_every``: besides reporting a change, the reader sends its input, local (tamper,
  power) and remote (attached reader) status in reply to a poll every so many seconds, unasked
  (osdp_ISTATR, osdp_LSTATR, osdp_RSTATR as poll replies, OSDP v2.2 section 7), as readers that
  supervise their tamper and power on their own do.
* ``answers_at``: the reader answers at another address than the site file's, as one does after
  an osdp_COMSET (OSDP v2.2 section 6, communication configuration) from a configuration tool or
  another panel, or after its address switches were set differently.
* ``keyset``: how it answers osdp_KEYSET (``simulators.osdp.reader``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulators.dialects import Dialect

# How a reader answers osdp_KEYSET: takes the key (as the standard says), refuses it (NAK),
# acknowledges it and keeps its old key (a reader that lost power before storing it), or takes
# it while its acknowledgement is lost on the line.
KeysetAnswer = Literal["accept", "refuse", "forget", "lost-ack"]


class ReaderOptions(BaseModel):
    """What a simulated reader does beyond what the gateway's stanza says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reply_delay: float = Field(default=0.0, ge=0, le=10, description="seconds each reply is late")
    status_every: float = Field(default=0.0, ge=0, le=3600,
                                description="send its status unasked this often (0: on change)")
    answers_at: int | None = Field(default=None, ge=0, le=126,
                                   description="the address it answers at, if not the site's")
    keyset: KeysetAnswer = "accept"


_TIMING = ("OSDP v2.2, Timing: the PD replies within 200 ms, typically 3 ms (quoted in libosdp's "
           "doc/protocol/introduction.rst); libosdp 3.2's CP waits 200 ms (OSDP_RESP_TOUT_MS)")
DIALECTS = (
    Dialect("osdp", "standard", "OSDP v2.2 reader with keypad, LED, buzzer, relay and inputs",
            "OSDP v2.2 (IEC 60839-11-5); libosdp 3.2's PeripheralDevice",
            status={"online": True}),
    Dialect("osdp", "slow-reply",
            "reader behind a long RS-485 run or a buffering converter, answering in 150 ms",
            f"{_TIMING}; field buses of 100-300 ms (docs/osdp.md, secure channel table)",
            settings={"reply_delay": 0.15}, status={"online": True}),
    Dialect("osdp", "late-reply",
            "reader answering in 300 ms, past the Control Panel's reply timeout",
            f"{_TIMING}; libosdp logs 'Packet sequence mismatch' for the late replies",
            settings={"reply_delay": 0.3}, works="nothing: reported offline as a timing fault",
            degraded=("cards", "feedback", "relay"),
            status={"online": False, "reason": "the reader answers too late"}),
    Dialect("osdp", "unsolicited-status",
            "reader that reports its inputs, tamper, power and attached reader every second "
            "unasked",
            "OSDP v2.2 section 7 (osdp_ISTATR 0x49, osdp_LSTATR 0x48, osdp_RSTATR 0x4B are "
            "valid replies to osdp_POLL); readers that supervise tamper and power send them "
            "without a change",
            settings={"status_every": 1.0}, status={"online": True}),
    Dialect("osdp", "readdressed",
            "reader moved to address 101 (an osdp_COMSET from a configuration tool, or its "
            "address switches) while the site file still names its old address",
            "OSDP v2.2 osdp_COMSET (0x6E): the PD answers at the new address from the next "
            "command on; a panel that still polls the old one hears nothing",
            settings={"answers_at": 101}, works="nothing: reported offline, no answer at its "
            "address", degraded=("cards", "feedback", "relay"),
            status={"online": False, "reason": "no answer at address"}),
)
