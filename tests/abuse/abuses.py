"""What an abuse is, and the rig it runs against: the vocabulary of the abuse suite.

An ``Abuse`` is one misbehaviour of one driver family's device, played through real sockets
(the family's simulator, or a raw client where the simulator cannot misbehave that way), with
what the gateway must show for it. The suite (``test_abuse_suite``) runs each while another
device's panic button is pressed, and checks that press first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import Subscriber
from tests.rig import GatewayProcess, SimulatorThread

# Every family is asked for every one of these; the order is the order the suite runs them in.
ABUSES = ("flood", "oversized", "malformed", "time", "slow", "hung", "retry")


@dataclass
class AbuseRig:
    """One family's running gateway, simulators and subscriber, shared by its abuse cases."""

    family: Family
    site: Path
    sims: SimulatorThread
    gateway: GatewayProcess
    sub: Subscriber
    state: dict[str, Any] = field(default_factory=dict)  # what an abuse's stop needs of its start

    def act(self, device: str, action: str, **args: Any) -> dict[str, Any]:
        return self.sims.run(lambda: self.sims.campus.act(device, action, args))

    def mark(self) -> int:
        """A point in the stream: ``since`` looks only at what arrived after it."""
        return len(self.sub.messages)

    def since(self, mark: int, type_suffix: str, device: str | None = None) -> list[dict[str, Any]]:
        events = [m.json() for m in list(self.sub.messages)[mark:]
                  if "/event/" in m.topic and m.payload]
        return [e for e in events if e["type"].endswith(type_suffix)
                and (device is None or e["device"] == device)]

    def wait(self, mark: int, type_suffix: str, device: str | None = None, count: int = 1,
             timeout: float = 15.0) -> list[dict[str, Any]]:
        """``count`` events of a type (of ``device``) arrived after ``mark``."""
        def enough(_messages: object) -> list[dict[str, Any]] | None:
            hits = self.since(mark, type_suffix, device)
            return hits[:count] if len(hits) >= count else None

        found: list[dict[str, Any]] = self.sub.wait_for(
            enough, timeout, f"{count} x {type_suffix} of {device or 'any device'}")
        return found

    def log_mark(self) -> int:
        """A point in the gateway's log: ``log_since`` reads what it wrote after it."""
        return len(self.gateway.output())

    def log_since(self, mark: int) -> str:
        return self.gateway.output()[mark:]

    def quiet(self, seconds: float) -> None:
        """Let the gateway work for a while (an observable that is an absence needs it)."""
        time.sleep(seconds)


Step = Callable[[AbuseRig], object]
Check = Callable[[AbuseRig, int], object]


def nothing(rig: AbuseRig) -> None:
    """An abuse that needs no starting or stopping (its observe plays it: a frame, a retry)."""


def unobserved(rig: AbuseRig, mark: int) -> None:
    """No observable: an abuse that applies must say what the gateway shows for it."""


@dataclass(frozen=True)
class Abuse:
    """``start`` puts the device to misbehaving; ``observe(rig, mark)`` asserts what the gateway
    showed for it since ``mark`` (taken before ``start``); ``stop`` ends it and waits until the
    device is back to normal, so the next case starts clean.

    ``not_applicable``: why this abuse means nothing for the family (shown as the skip reason).
    ``missing``: what the family's simulator lacks to play it (shown as the skip reason).
    ``known_defect``: the gateway's present failure, exactly (the case is a strict xfail).
    """

    start: Step = nothing
    observe: Check = unobserved
    stop: Step = nothing
    not_applicable: str = ""
    missing: str = ""
    known_defect: str = ""


def not_applicable(reason: str) -> Abuse:
    return Abuse(not_applicable=reason)


def missing(dialect: str) -> Abuse:
    """An abuse that applies but cannot be played yet: its simulator lacks the dialect."""
    return Abuse(missing=dialect)


@dataclass(frozen=True)
class Family:
    """A driver family as the suite abuses it.

    ``devices(tmp_path)``: the site-file stanzas of the abused device(s) (the suite adds a Modbus
    I/O module with the panic button); ``site``: other site sections the family needs;
    ``ready``: the ids (those its events carry) that must be online before the abuses.
    """

    name: str
    driver: str
    devices: Callable[[Path], list[dict[str, Any]]]
    abuses: dict[str, Abuse]
    ready: tuple[str, ...] = ()
    site: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    prepare: Step = nothing  # once the devices are online: what the abuses share (a client)
    finish: Step = nothing

    def __post_init__(self) -> None:
        missing = [a for a in ABUSES if a not in self.abuses]
        if missing or set(self.abuses) - set(ABUSES):
            raise ValueError(f"abuse family {self.name}: give every abuse of {ABUSES} (an "
                             f"Abuse or not_applicable(reason)); missing {missing}")
