"""Per-device budgets: a flooding device is refused whole readings, raises its own alarm, ends."""

from __future__ import annotations

from gateway.config import Flood
from gateway.flood import FloodGuard
from gateway.kernel.events import (
    DEVICE_FLOOD_ENDED,
    DEVICE_FLOODING,
    PANIC_PRESSED,
    Event,
    PointFact,
)
from gateway.kernel.limits import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def presses(device: str, count: int) -> list[Event]:
    return [Event(PANIC_PRESSED, device, PointFact(point=f"b{n}", zone="z"), subject=f"b{n}")
            for n in range(count)]


def test_a_bucket_refuses_what_does_not_fit_and_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 2.0, clock)
    assert bucket.take(10) and not bucket.take(1)
    clock.now += 1.0
    assert bucket.take(2) and not bucket.take(1)
    clock.now += 100
    assert bucket.full
    assert bucket.take(25), "a batch bigger than the bucket passes once the bucket is full"
    clock.now += 5
    assert not bucket.take(1), "and leaves the bucket in debt for as long as it was over"
    clock.now += 3
    assert bucket.take(1)


def test_a_flooding_device_is_refused_alone_alarms_once_and_ends() -> None:
    clock = Clock()
    emitted: list[Event] = []
    guard = FloodGuard(Flood(burst=50, per_second=5, ends_after=30), emitted.append, clock)
    assert guard.admit("noisy", presses("noisy", 50))
    assert not guard.admit("noisy", presses("noisy", 10))
    assert not guard.admit("noisy", presses("noisy", 3))
    assert guard.admit("quiet", presses("quiet", 20)), "another device has its own budget"
    (flooding,) = emitted
    assert flooding.type is DEVICE_FLOODING and flooding.device_id == "noisy"
    assert flooding.severity.value == "critical"
    assert guard.flooding == {"noisy": 13}

    clock.now += 1.0
    assert guard.admit("noisy", presses("noisy", 5)), "the device keeps its fair rate"
    guard.tick()
    assert len(emitted) == 1, "still within ends_after of the last refusal"
    clock.now += 31
    guard.tick()
    ended = emitted[-1]
    assert ended.type is DEVICE_FLOOD_ENDED
    assert ended.payload.model_dump()["held_back"] == 13
    assert ended.payload.model_dump()["held_back_types"] == {"campus.panic.pressed": 13}
    assert guard.flooding == {}
