"""The console's live feed: bounded, replayable after a reconnect, and never in the way."""

from __future__ import annotations

from gateway.console.feed import CLIENT_QUEUE, HISTORY, LiveFeed
from gateway.kernel.events import DEVICE_OFFLINE, PANIC_PRESSED, Availability, Event, PointFact


def press(n: int) -> Event:
    return Event(PANIC_PRESSED, "io-1", PointFact(point=f"b{n}", zone="z"), subject=f"b{n}")


def test_a_reconnecting_browser_gets_what_it_missed_or_a_resync() -> None:
    feed = LiveFeed(lambda: False)
    feed.on_event(press(1))
    seen = feed.last_id
    feed.on_event(press(2))
    feed.on_event(Event(DEVICE_OFFLINE, "io-2", Availability(online=False, reason="x")))
    queue, missed = feed.subscribe(seen)
    assert [u.kind for u in missed] == ["event", "device", "event"]
    assert missed[-1].id == feed.last_id
    _, nothing = feed.subscribe(feed.last_id)
    assert nothing == []
    _, other_run = feed.subscribe("0000:5")
    assert [u.kind for u in other_run] == ["resync"]
    for n in range(HISTORY + 10):
        feed.on_event(press(n))
    _, too_old = feed.subscribe(seen)
    assert [u.kind for u in too_old] == ["resync"]
    assert not feed.subscribed(queue), "a browser that did not keep up was let go"
    assert len(feed.events) <= 10_000


def test_a_slow_browser_costs_only_its_own_queue() -> None:
    feed = LiveFeed(lambda: False)
    slow, _ = feed.subscribe(None)
    fast, _ = feed.subscribe(None)
    for n in range(CLIENT_QUEUE + 5):
        feed.on_event(press(n))
        while not fast.empty():
            fast.get_nowait()
    assert not feed.subscribed(slow) and feed.subscribed(fast)
