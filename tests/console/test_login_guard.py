"""The login guard's arithmetic, on a clock of the test's: failures slow one client down with
doubling waits, never lock a name, and are forgotten after the longest wait."""

from __future__ import annotations

from gateway.console.sessions import LoginGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(guard: LoginGuard, name: str, address: str) -> float:
    assert guard.refusal(name, address) == ""
    return guard.failed(name, address)


def test_waits_double_for_the_client_and_never_touch_another_client() -> None:
    clock = Clock()
    guard = LoginGuard(attempts=3, longest=60, clock=clock)
    assert [fail(guard, "guard1", "10.0.0.9") for _ in range(2)] == [0, 0]
    waits = []
    for _ in range(8):
        waits.append(fail(guard, "guard1", "10.0.0.9"))
        assert "waits" in guard.refusal("guard1", "10.0.0.9")
        assert guard.refusal("guard1", "10.0.0.1") == ""  # the guard room is not held up
        clock.now += waits[-1] + 10  # past the wait, and past the address's rate
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_client_spraying_names_waits_for_every_name() -> None:
    clock = Clock()
    guard = LoginGuard(attempts=2, longest=60, clock=clock)
    for n in range(2 * LoginGuard.CLIENT_FACTOR):
        clock.now += 7  # within the address's rate
        fail(guard, f"name-{n}", "10.0.0.9")
    assert "waits" in guard.refusal("a-new-name", "10.0.0.9")
    assert guard.refusal("a-new-name", "10.0.0.1") == ""


def test_a_success_clears_the_pair_and_quiet_clears_everything() -> None:
    clock = Clock()
    guard = LoginGuard(attempts=2, longest=60, clock=clock)
    fail(guard, "guard1", "10.0.0.9")
    guard.succeeded("guard1", "10.0.0.9")
    assert fail(guard, "guard1", "10.0.0.9") == 0  # counting starts again
    assert fail(guard, "guard1", "10.0.0.9") == 1
    clock.now += 61 + 60
    assert fail(guard, "guard1", "10.0.0.9") == 0  # forgotten after the longest wait


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    clock = Clock()
    guard = LoginGuard(attempts=2, longest=60, clock=clock)
    fail(guard, "guard1", "2001:db8:1:2::10")
    clock.now += 7
    fail(guard, "guard1", "2001:db8:1:2:ffff::99")  # the same /64: the same client
    assert "waits" in guard.refusal("guard1", "2001:db8:1:2::abcd")
    assert guard.refusal("guard1", "2001:db8:1:3::10") == ""
