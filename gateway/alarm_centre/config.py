"""The site file's ``alarm_centre:``: the centre's receivers, the school's account, the key and
how the path is supervised. Every key but ``account`` and ``receivers`` has a default.

EN 50136-1 grades a path by the reporting time of a failure: how long a path that stopped
answering may go unnoticed. Here that is at most one supervision interval plus the tries of
the test message that finds it (``attempts`` x ``answer_within``); ``category`` names the
best single-path (SP) and dual-path (DP) category a setting meets, on paper.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.alarm_centre.reports import DEFAULT_CODES, Code
from gateway.kernel.fields import Identifier, Seconds, Secret, Strict

_URL = re.compile(r"^(?P<transport>tcp|udp)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^/:\[\]\s]+)"
                  r":(?P<port>\d{1,5})/?$")

# EN 50136-1 maximum reporting times of a failed path (seconds), strictest first
SINGLE_PATH = (("SP6", 20.0), ("SP5", 90.0), ("SP4", 180.0), ("SP3", 1800.0),
               ("SP2", 25 * 3600.0), ("SP1", 32 * 86400.0))
DUAL_PATH = (("DP4", 90.0), ("DP3", 180.0), ("DP2", 1800.0), ("DP1", 25 * 3600.0))


class Receiver(Strict):
    """One of the centre's IP receivers; the first in the list is the primary."""

    url: str = Field(description="tcp://host:port or udp://host:port")
    name: Identifier | None = Field(default=None, description="how the console and the "
                                    "path alarm name it (default receiver-1, receiver-2 ...)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        match = _URL.match(value)
        if match is None:
            raise ValueError(f"expected tcp://host:port or udp://host:port, got {value!r}")
        if not 1 <= int(match["port"]) <= 65535:
            raise ValueError(f"port {match['port']} is not 1 to 65535")
        return value

    @property
    def transport(self) -> Literal["tcp", "udp"]:
        return "udp" if self.url.startswith("udp") else "tcp"

    @property
    def host(self) -> str:
        match = _URL.match(self.url)
        assert match is not None
        return match["host"].strip("[]")

    @property
    def port(self) -> int:
        match = _URL.match(self.url)
        assert match is not None
        return int(match["port"])


class AlarmCentre(Strict):
    account: str = Field(pattern=r"^[0-9A-Fa-f]{3,16}$",
                         description="the school's account at the centre (3-16 hex digits)")
    receivers: list[Receiver] = Field(min_length=1, max_length=4,
                                      description="primary first, then the backups")
    key: Secret | None = Field(default=None, description="the AES key in hex (16, 24 or 32 "
                               "bytes) from {file: ...} or {env: ...}; absent: unencrypted")
    supervision: Seconds = Field(default=90.0, ge=0.2, le=32 * 86400,
                                 description="a test (NULL) message to each receiver this often")
    protocol: Literal["SIA-DCS", "ADM-CID"] = "SIA-DCS"
    receiver_number: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{1,6}$",
                                        description="the R token, if the centre gives one")
    line_number: str = Field(default="0", pattern=r"^[0-9A-Fa-f]{1,6}$",
                             description="the L token")
    group: int = Field(default=1, ge=0, le=99, description="SIA ri / Contact ID group")
    zones: dict[str, int] = Field(default_factory=dict,
                                  description="zone name -> the zone number the centre knows "
                                              "(1-999); an unlisted zone is 0, named in the text")
    codes: dict[str, Code] = Field(default_factory=dict,
                                   description="condition -> codes, over the defaults")
    answer_within: Seconds = Field(default=5.0, ge=0.05, le=120,
                                   description="a receiver's answer is awaited this long")
    attempts: int = Field(default=2, ge=1, le=10,
                          description="tries before a receiver counts as not answering")

    @field_validator("account", "receiver_number", "line_number")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None  # DC-09 writes hex in capitals

    @model_validator(mode="after")
    def _distinct(self) -> AlarmCentre:
        names = self.receiver_names()
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"receivers: two receivers named {', '.join(twice)}")
        return self

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [f"{name}: {number}" for name, number in value.items() if not 0 <= number <= 999]
        if bad:
            raise ValueError(f"zone numbers are 0 to 999 (Contact ID's three digits): {bad}")
        return value

    @field_validator("codes")
    @classmethod
    def _codes(cls, value: dict[str, Code]) -> dict[str, Code]:
        return {**DEFAULT_CODES, **value}

    def code_table(self) -> dict[str, Code]:
        """The codes in force: the defaults with the site's own over them."""
        return self.codes or dict(DEFAULT_CODES)

    def receiver_names(self) -> list[str]:
        return [r.name or f"receiver-{n}" for n, r in enumerate(self.receivers, 1)]

    def reporting_time(self) -> float:
        """At most how long a receiver that stops answering goes unnoticed (seconds)."""
        return self.supervision + self.attempts * self.answer_within

    def category(self) -> str:
        """The EN 50136-1 categories this supervision meets, on paper: ``SP5`` with one
        receiver, ``SP5 / DP4`` with a backup (same reporting time on both paths)."""
        seconds = self.reporting_time()
        single = next((name for name, limit in SINGLE_PATH if seconds <= limit), "none")
        if len(self.receivers) < 2:
            return single
        dual = next((name for name, limit in DUAL_PATH if seconds <= limit), "none")
        return f"{single} / {dual}"
