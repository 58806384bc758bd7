"""Loss accounting for the central platform: `campus-gateway audit-stream`.

Every event a gateway accepts gets the next ``seqno`` of that gateway (kept in its state
database across restarts), so the platform can account for each one: a gap is an event lost on
the way, a repeat with the same ``id`` is a harmless duplicate (QoS 1 delivers at least once), a
repeat that differs, or a ``seqno`` that comes with two ids, is a conflict (two gateways under
one name, or a corrupted store), and an event older than one already delivered for its device
is out of order. A gateway whose state was reset starts again at seqno 1: that begins a new
epoch of its sequence, not thousands of duplicates.

A gateway stalls when its status says online and its stats (published every stats interval, with
the outbox's ``last_sequence``) say it accepted events that have not arrived for longer than a
stats interval, or when nothing at all comes from it for two intervals. A quiet campus is not a
stall: no event for a while is what a quiet campus sends, and its stats still arrive.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.kernel.boundary import BoundaryError, device_text, json_object
from gateway.topics import parse as parse_topic

MAX_MESSAGE = 256 * 1024  # bytes of one event, status or stats document read
DEFAULT_STATS_INTERVAL = 60.0  # the site file's default, until two stats show the real one
KEPT_PROBLEMS = 20  # unreadable messages described in the report (all are counted)


def ranges(runs: list[tuple[int, int]], most: int = 10) -> str:
    """``[(3, 5), (9, 9)]`` as ``3-5, 9`` (the first ``most`` runs, then how many more)."""
    text = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs[:most])
    return text + (f" and {len(runs) - most} more runs" if len(runs) > most else "")


@dataclass
class Epoch:
    """One unbroken run of a gateway's sequence (a reset of its state begins another)."""

    first: int
    seqs: dict[int, str] = field(default_factory=dict)  # seqno -> event id
    last_by_device: dict[str, int] = field(default_factory=dict)
    highest: int = 0
    reordered: int = 0

    def add(self, seqno: int, event_id: str, device: str) -> None:
        self.seqs[seqno] = event_id
        self.first = min(self.first, seqno)  # an auditor that joined late learns the start
        self.highest = max(self.highest, seqno)
        if seqno < self.last_by_device.get(device, 0):
            self.reordered += 1
        else:
            self.last_by_device[device] = seqno

    def missing(self) -> list[tuple[int, int]]:
        """The runs of seqnos from ``first`` to ``highest`` that did not arrive, found from
        those that did: a seqno far ahead (a wild publisher's) costs one run, not a count to it."""
        runs, expected = [], self.first
        for seqno in sorted(self.seqs):
            if seqno > expected:
                runs.append((expected, seqno - 1))
            expected = seqno + 1
        return runs


@dataclass
class GatewayAccount:
    """What arrived from one gateway of one campus."""

    site: str
    gateway: str
    epochs: list[Epoch] = field(default_factory=list)
    digests: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # id -> (epoch, digest)
    duplicates: int = 0
    conflicts: int = 0
    online: bool | None = None
    node: str = ""
    moves: int = 0
    accepted: int | None = None  # the outbox's last_sequence in the latest stats
    stats_interval: float = DEFAULT_STATS_INTERVAL
    stats_at: float | None = None
    heard_at: float | None = None
    event_at: float | None = None
    behind_since: float | None = None
    stalls: int = 0
    stalled: str = ""  # why it is stalled now ("" when it is not)

    def event(self, body: dict[str, Any], raw: bytes, now: float) -> None:
        self.heard_at = self.event_at = now
        seqno, event_id = body["seqno"], body["id"]
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        seen = self.digests.get(event_id)
        if seen is not None:
            if seen[1] == digest:
                self.duplicates += 1
            else:
                self.conflicts += 1
            return
        epoch = self.epochs[-1] if self.epochs else None
        if epoch is None:
            epoch = Epoch(first=seqno)
            self.epochs.append(epoch)
        elif seqno in epoch.seqs:
            if seqno != 1:  # the same seqno under a new id, mid-sequence
                self.conflicts += 1
                return
            epoch = Epoch(first=1)  # the gateway's state was reset: it counts from 1 again
            self.epochs.append(epoch)
            self.accepted = None  # the stats before the reset counted the old sequence
            self.behind_since = None
        self.digests[event_id] = (len(self.epochs) - 1, digest)
        epoch.add(seqno, event_id, body["device"])

    def status(self, body: dict[str, Any], now: float) -> None:
        self.heard_at = now
        self.online = bool(body.get("online"))
        broker = body.get("broker")
        if isinstance(broker, dict):
            self.node = device_text(broker.get("node", ""), 64)
            moves = broker.get("moves")
            self.moves = moves if isinstance(moves, int) else self.moves

    def stats(self, body: dict[str, Any], now: float) -> None:
        if self.stats_at is not None and now - self.stats_at >= 1.0:
            # the gateway's stats interval, as seen (a late one does not lengthen it)
            self.stats_interval = min(self.stats_interval, now - self.stats_at)
        self.stats_at = self.heard_at = now
        outbox = body.get("outbox")
        last = outbox.get("last_sequence") if isinstance(outbox, dict) else None
        if isinstance(last, int):
            self.accepted = last
            if self.behind and self.behind_since is None:
                self.behind_since = now  # these events are late from now on

    @property
    def highest(self) -> int:
        return self.epochs[-1].highest if self.epochs else 0

    @property
    def behind(self) -> int:
        """Accepted by the gateway (its latest stats) and not arrived yet."""
        return max(0, (self.accepted or 0) - self.highest)

    def check(self, now: float) -> None:
        """Whether it stalls now; each stall is counted once, when it begins."""
        why = ""
        if self.online:
            if self.behind:
                if self.behind_since is None:
                    self.behind_since = now
                if now - self.behind_since > self.stats_interval:
                    why = (f"{self.behind} accepted events have not arrived for "
                           f"{now - self.behind_since:.0f} s")
            else:
                self.behind_since = None
            if self.heard_at is not None and now - self.heard_at > 2 * self.stats_interval:
                why = f"nothing from it for {now - self.heard_at:.0f} s while it says online"
        if why and not self.stalled:
            self.stalls += 1
        self.stalled = why

    def figures(self, now: float) -> dict[str, Any]:
        epochs = [{"first": e.first, "last": e.highest, "delivered": len(e.seqs),
                   "missing": sum(b - a + 1 for a, b in gaps), "missing_seqnos": ranges(gaps),
                   "reordered": e.reordered}
                  for e, gaps in ((e, e.missing()) for e in self.epochs)]
        # what the gateway accepted: each earlier epoch up to its last seqno, the current one
        # as far as its latest stats (or its events, if they are ahead of the stats) say
        accepted = sum(e.highest for e in self.epochs[:-1]) + max(self.accepted or 0,
                                                                  self.highest)
        return {
            "site": self.site, "gateway": self.gateway, "online": self.online,
            "node": self.node, "moves": self.moves, "accepted": accepted,
            "delivered": sum(e["delivered"] for e in epochs),
            "missing": sum(e["missing"] for e in epochs),
            "behind": self.behind,
            "duplicates": self.duplicates, "conflicts": self.conflicts,
            "reordered": sum(e["reordered"] for e in epochs),
            "stalls": self.stalls, "stalled": self.stalled,
            "last_event_s": round(now - self.event_at, 1) if self.event_at else None,
            "epochs": epochs,
        }


class StreamAudit:
    """Takes every message of the gateways' events, statuses and stats; reports per campus."""

    def __init__(self, prefix: str = "campus",
                 stats_interval: float = DEFAULT_STATS_INTERVAL) -> None:
        self.prefix = prefix
        self.stats_interval = stats_interval
        self.gateways: dict[tuple[str, str], GatewayAccount] = {}
        self.unreadable = 0
        self.problems: list[str] = []

    @property
    def filters(self) -> list[str]:
        p = self.prefix
        return [f"{p}/+/event/#", f"{p}/+/gateway/+/status", f"{p}/+/gateway/+/stats"]

    def account(self, site: str, gateway: str) -> GatewayAccount:
        key = (site, gateway)
        if key not in self.gateways:
            self.gateways[key] = GatewayAccount(site, gateway,
                                                stats_interval=self.stats_interval)
        return self.gateways[key]

    def take(self, topic: str, payload: bytes, now: float | None = None) -> None:
        """One message off the broker. A message that is not what its topic promises is
        counted and described, never raised: the audit goes on."""
        now = time.monotonic() if now is None else now
        parsed = parse_topic(self.prefix, topic)
        if parsed is None or not payload:
            return  # a cleared retained topic, or another publisher's topic
        try:
            body = json_object(payload, what=f"the message on {device_text(topic, 160)}",
                               max_bytes=MAX_MESSAGE)
            if parsed.kind == "event":
                self._event(topic, body, payload, now)
            elif parsed.kind == "status" and parsed.gateway:
                self.account(parsed.site, parsed.gateway).status(body, now)
            elif parsed.kind == "stats" and parsed.gateway:
                self.account(parsed.site, parsed.gateway).stats(body, now)
        except BoundaryError as exc:
            self._unreadable(str(exc))

    def _event(self, topic: str, body: dict[str, Any], raw: bytes, now: float) -> None:
        wrong = [name for name, kind in (("id", str), ("seqno", int), ("device", str),
                                         ("site", str), ("gateway", str))
                 if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool)]
        if not wrong and body["seqno"] < 1:
            wrong = ["seqno"]
        if wrong:
            raise BoundaryError(f"the event on {device_text(topic, 160)} has no valid "
                                f"{', '.join(wrong)}")
        site, gateway = device_text(body["site"], 64), device_text(body["gateway"], 64)
        self.account(site, gateway).event(body, raw, now)

    def _unreadable(self, why: str) -> None:
        self.unreadable += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(why)

    def check(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for account in self.gateways.values():
            account.check(now)

    def report(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        self.check(now)
        campuses: dict[str, dict[str, Any]] = {}
        for (site, gateway), account in sorted(self.gateways.items()):
            campuses.setdefault(site, {})[gateway] = account.figures(now)
        rows = [g for gateways in campuses.values() for g in gateways.values()]
        totals = {k: sum(g[k] for g in rows) for k in ("accepted", "delivered", "missing",
                                                      "behind", "duplicates", "conflicts",
                                                      "reordered", "stalls")}
        return {"campuses": campuses, "totals": {"gateways": len(rows), **totals},
                "unreadable": self.unreadable, "problems": list(self.problems)}

    def lost_anything(self) -> bool:
        totals = self.report()["totals"]
        return bool(totals["missing"] or totals["conflicts"])


def describe(report: dict[str, Any]) -> str:
    """The report as text, a block per campus."""
    lines = []
    for site, gateways in report["campuses"].items():
        lines.append(f"campus {site}")
        for gateway, g in gateways.items():
            state = {True: "online", False: "offline", None: "status unknown"}[g["online"]]
            where = f" on {g['node']} (moves {g['moves']})" if g["node"] else ""
            lines.append(f"  gateway {gateway}: {state}{where}; accepted {g['accepted']}, "
                         f"delivered {g['delivered']}, missing {g['missing']}, not yet arrived "
                         f"{g['behind']}, duplicates {g['duplicates']}, conflicts "
                         f"{g['conflicts']}, reordered {g['reordered']}, stalls {g['stalls']}")
            if len(g["epochs"]) > 1:
                lines.append(f"    {len(g['epochs'])} epochs (its state was reset "
                             f"{len(g['epochs']) - 1} times)")
            for number, epoch in enumerate(g["epochs"], 1):
                if epoch["missing"]:
                    lines.append(f"    epoch {number}: missing seqno {epoch['missing_seqnos']}")
            if g["stalled"]:
                lines.append(f"    STALLED: {g['stalled']}")
    t = report["totals"]
    lines.append(f"fleet: {t['gateways']} gateways; accepted {t['accepted']}, delivered "
                 f"{t['delivered']}, missing {t['missing']}, duplicates {t['duplicates']}, "
                 f"conflicts {t['conflicts']}, reordered {t['reordered']}, stalls {t['stalls']}")
    if report["unreadable"]:
        lines.append(f"unreadable messages: {report['unreadable']}")
        lines.extend(f"  {why}" for why in report["problems"])
    return "\n".join(lines)
