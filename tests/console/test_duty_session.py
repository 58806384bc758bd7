"""The duty session: an open board is never logged out; the authority to act lapses after the
idle time (or a new password) and is renewed in place, keeping the page and what was typed;
a disabled operator's pages all go to the login at once. In Chromium against the gateway as
its own process, with the console's session_idle at 3 s."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from gateway.console.operators import ConsoleOperators
from gateway.console.sessions import Sessions
from tests.conftest import Mosquitto, Subscriber
from tests.console.conftest import PASSWORDS, Console, console_site, running_console

IDLE = 3.0


@pytest.fixture(scope="module")
def duty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One campus for the module's browser tests, which run in order on it."""
    tmp = tmp_path_factory.mktemp("duty")
    broker = Mosquitto(tmp)
    broker.start()
    subscriber = Subscriber(broker.url)
    site, url = console_site(tmp, broker.url, console={"session_idle": f"{IDLE}s"})
    try:
        with running_console(site, url, subscriber) as running:
            yield running
    finally:
        subscriber.close()
        broker.stop()


def operator(console: Console, action: str, name: str, password: str = "") -> None:
    args = [sys.executable, "-m", "gateway.cli", "operator", action, name, "-c",
            str(console.site)]
    if password:
        secret = console.site.parent / f"{name}-{action}.password"
        secret.write_text(password)
        args += ["--password-file", str(secret)]
    subprocess.run(args, check=True, capture_output=True)


def stream_events(console: Console, seconds: float) -> None:
    """Presses and releases on module io-1 for ``seconds``: events arriving all the while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        console.sims.press("io-1", "btn-b")
        time.sleep(0.2)
        console.sims.release("io-1", "btn-b")
        time.sleep(0.2)


def test_an_acknowledge_after_the_idle_time_goes_through_once_the_password_is_given(
        duty: Console, browser: Browser) -> None:
    page = duty.login(browser, "guard1", "en")
    page.click("#duty")
    duty.sims.press("io-0", "btn-a")
    card = page.locator("article.alarm", has_text="/ btn-a")
    expect(card).to_have_count(1, timeout=5000)
    note = card.locator("input.note")
    note.fill("on my way")

    stream_events(duty, IDLE + 2)  # past the idle time, with events arriving
    expect(page.locator("article.alarm", has_text="/ btn-b")).to_have_count(1)
    assert page.url == duty.url  # still the board: never logged out under it
    expect(page.locator("#link-lost")).to_be_hidden()

    card.locator("button.ack").click()
    dialog = page.locator("#reauth")
    expect(dialog).to_be_visible(timeout=5000)
    expect(page.locator("#reauth-why")).to_contain_text("have not acted")
    expect(note).to_have_value("on my way")  # the page and what was typed stay
    page.fill("#reauth-password", "not-the-password")
    page.locator("#reauth-form button[type=submit]").click()
    expect(page.locator("#reauth-error")).to_have_text("Wrong password.")
    assert not duty.subscriber.events("alarm.acknowledged")
    page.fill("#reauth-password", PASSWORDS["guard1"])
    page.locator("#reauth-form button[type=submit]").click()
    expect(dialog).to_be_hidden()

    (acked,) = duty.subscriber.wait_event("alarm.acknowledged", timeout=10)
    assert acked["data"]["by"] == "guard1" and acked["data"]["alarm"]["note"] == "on my way"
    renewed = duty.subscriber.wait_event("audit.command", command="console.reauth", outcome="ok")
    assert renewed[0]["data"]["operator"] == "guard1"
    denied = duty.subscriber.events("audit.command")
    assert any(d["data"]["command"] == "console.reauth" and d["data"]["outcome"] == "denied"
               for d in denied)


def test_a_new_password_is_asked_in_place_and_a_disable_ends_every_page_at_once(
        duty: Console, browser: Browser) -> None:
    board = duty.login(browser, "guard1", "en")
    devices = board.context.new_page()  # a second page of the same session
    devices.goto(duty.url + "devices")
    duty.sims.press("io-0", "btn-b")
    card = board.locator("article.alarm", has_text="I/O module 0 / btn-b")
    expect(card).to_have_count(1, timeout=5000)

    operator(duty, "passwd", "guard1", "guard-password-2")
    duty.sims.press("io-1", "btn-a")  # the board still follows after the password change
    expect(board.locator("article.alarm", has_text="I/O module 1 / btn-a")).to_have_count(
        1, timeout=5000)
    card.locator("input.note").fill("checked the stairs")
    card.locator("button.ack").click()
    expect(board.locator("#reauth-why")).to_contain_text("password was changed")
    board.fill("#reauth-password", PASSWORDS["guard1"])  # the old one no longer does
    board.locator("#reauth-form button[type=submit]").click()
    expect(board.locator("#reauth-error")).to_be_visible()
    board.fill("#reauth-password", "guard-password-2")
    board.locator("#reauth-form button[type=submit]").click()
    acked = duty.subscriber.wait_event("alarm.acknowledged", count=2, timeout=10)[-1]
    assert acked["data"]["alarm"]["note"] == "checked the stairs"

    operator(duty, "disable", "guard1")
    for page in (board, devices):  # the feed closes; every page goes to the login
        page.wait_for_url(duty.url + "login", timeout=5000)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_watch_and_the_authority_to_act_keep_their_own_clocks(tmp_path: Path) -> None:
    store = ConsoleOperators(tmp_path / "operators.sqlite3")
    store.add("guard1", "guard", PASSWORDS["guard1"])
    clock = _Clock()
    sessions = Sessions(60, store, clock)
    sid, session = sessions.open("guard1", "guard", "en", store.generation("guard1") or 0)
    for _ in range(10):  # an open page asks every second (web.py's stream): the watch holds
        clock.now += 30
        assert sessions.get(sid) is session
    assert sessions.renewal(session) == "idle"  # 300 s without an action of the guard's
    sessions.renewed(sid, session, store.generation("guard1") or 0)
    assert sessions.renewal(session) == ""
    store.set_password("guard1", "guard-password-2")
    assert sessions.get(sid) is session and sessions.renewal(session) == "password"
    clock.now += 61  # nobody looked for longer than the idle time: the session ends
    assert sessions.get(sid) is None
    sid, session = sessions.open("guard1", "guard", "en", store.generation("guard1") or 0)
    store.set_disabled("guard1", True)
    assert sessions.get(sid) is None
