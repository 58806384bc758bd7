"""What the driver keeps about one reader between libosdp's events: its link state, the keypad
entry under way, the card waiting for its PIN, and the last input, tamper and power status."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from drivers.osdp.models import Reader

ENTER_KEYS = frozenset(b"#\r")
CLEAR_KEYS = frozenset(b"*\x1b\x7f")


@dataclass(frozen=True)
class CardRead:
    data: bytes
    length: int  # bits
    heard: float  # loop time the driver heard it
    held: bool = False  # delivered as the reader came back from an outage: made during it


@dataclass(frozen=True)
class EntryEnd:
    """A keypad entry ended (Enter, or no key for the timeout) with these digits."""

    digits: str


@dataclass
class KeyEntry:
    """Keys pressed since the entry began; ``credential`` is the card waiting for its PIN."""

    digits: str = ""
    credential: str | None = None
    timer: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass
class ReaderSession:
    config: Reader
    index: int | None  # position in the panel; None: not on the bus (no usable key)
    online: bool = False
    told: tuple[bool, str] | None = None  # the last availability reported
    failures: int = 0  # consecutive attempts that failed, for the back-off
    dropped_replies: int = 0  # malformed replies dropped (the reader polled on), since start
    spoiled: deque[float] = field(default_factory=deque)  # when, of the recent malformed ones
    retry: asyncio.TimerHandle | None = None
    settle: asyncio.TimerHandle | None = None  # when a noisy reader may be told online again
    # install_key or rotate_key waits for the outcome of a key: True once online with a secure
    # channel, the reason as an ActionError once libosdp takes it offline
    keying: asyncio.Future[bool] | None = None
    key: bytes | None = None  # the key the panel holds for it
    pinned: bytes | None = None  # a key proven to work that the site file does not hold
    secured: bool = False  # it had a secure session with this gateway: a failure now is a desync
    desync: str = ""  # why its sc_desync is raised; "" while it is not
    breaks: deque[float] = field(default_factory=deque)  # when its recent sessions broke
    steady: asyncio.TimerHandle | None = None  # when its sc_desync may end (sessions held)
    entry: KeyEntry = field(default_factory=KeyEntry)
    work: asyncio.Queue[CardRead | EntryEnd] = field(default_factory=asyncio.Queue)
    door_open: bool = False
    rex: bool = False
    tamper: bool = False
    power_fault: bool = False
    remote_tamper: bool = False
    permits: dict[str, float] = field(default_factory=dict)  # why the door may open -> when
    offline_since: float | None = None  # loop time libosdp last took it offline
    back_at: float | None = None  # loop time it came back from an outage longer than stale_read

    @property
    def id(self) -> str:
        return self.config.id

    def spoiled_reply(self, now: float, window: float) -> int:
        """Note a malformed reply; how many there were in the last ``window`` seconds."""
        self.dropped_replies += 1
        self.spoiled.append(now)
        return self.spoiled_within(now, window)

    def spoiled_within(self, now: float, window: float) -> int:
        """How many malformed replies in the last ``window`` seconds."""
        while self.spoiled and now - self.spoiled[0] > window:
            self.spoiled.popleft()
        return len(self.spoiled)

    def session_broke(self, now: float, window: float) -> int:
        """Note a secure session that broke; how many did in the last ``window`` seconds."""
        self.breaks.append(now)
        return self.breaks_within(now, window)

    def breaks_within(self, now: float, window: float) -> int:
        while self.breaks and now - self.breaks[0] > window:
            self.breaks.popleft()
        return len(self.breaks)

    def permit(self, why: str, now: float) -> None:
        self.permits[why] = now

    def granted_by(self, now: float, free: bool) -> str:
        """What let the door open just now: the latest grant, exit request or open action."""
        if free:
            return "free"
        door = self.config.door
        window = door.expect_open_within if door is not None else 0.0
        recent = [(at, why) for why, at in self.permits.items() if now - at <= window]
        return max(recent)[1] if recent else ""
