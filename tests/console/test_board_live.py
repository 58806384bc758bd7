"""The board and every page, live: the alarm bar on each page, the board's status strip (the
broker stopped and started, a lockdown a gate-house panic starts), keyed updates that keep a
note being typed through 50 events, the newest critical alarm first during a flood, focus after
acknowledging, the header at 1366x768 in both languages. In Chromium, against one campus for
the whole module (six I/O modules, a fire panel, a gate, a lockdown linkage); the tests run in
order on it, each saying what it expects to be open already."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, Response, expect

from tests.conftest import Mosquitto, Subscriber, free_port
from tests.console.conftest import (
    SCREENSHOTS,
    Console,
    console_site,
    document,
    playing,
    running_console,
    screenshot,
)

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("map", "devices", "events", "access")


@pytest.fixture(scope="module")
def campus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Console, Mosquitto]]:
    tmp = tmp_path_factory.mktemp("board")
    broker = Mosquitto(tmp)
    broker.start()
    subscriber = Subscriber(broker.url)
    site, url = console_site(tmp, broker.url, modules=6, extra={
        "access": {"gates": [{"id": "main", "name": "Main gate", "egress": True}]},
        "linkage": [{"name": "gate-house-lockdown",
                     "when": {"conditions": ["panic"], "zones": ["zone-5"]},
                     "lockdown": True}]})
    doc: dict[str, Any] = yaml.safe_load(site.read_text())
    doc["devices"].append({
        "id": "fire-panel-a", "driver": "modbus_fire", "name": "Main building fire panel",
        "profile": "status-word-v1", "tcp": {"host": "127.0.0.1", "port": free_port()},
        "poll_interval": "50ms", "timeout": "500ms", "zones": {2: "building-a-f2"},
        "points": [{"loop": 1, "point": 12, "zone": "building-a-f2",
                    "location": "2F stairwell", "description": "Manual call point 2F"}]})
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        with running_console(site, url, subscriber) as console:
            subscriber.wait_event("device.online", count=7, timeout=20)
            yield console, broker
    finally:
        subscriber.close()
        broker.stop()


def login(console: Console, browser: Browser, name: str, language: str,
          width: int = 1400, height: int = 900) -> Page:
    page = console.login(browser, name, language)
    page.set_viewport_size({"width": width, "height": height})
    return page


def keep_picture(page: Page, name: str, selector: str = "") -> None:
    """A picture for docs/console/ (kept under var/screenshots/ like the others)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    if selector:
        page.locator(selector).screenshot(path=str(target))
    else:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(target))
    document(name)


def contrast(page: Page, selector: str) -> float:
    """WCAG contrast of an element's text against its background (both opaque here)."""
    return float(page.evaluate("""(selector) => {
        const style = getComputedStyle(document.querySelector(selector));
        const channel = (c) => {
            c /= 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
        const luminance = (css) => { const [r, g, b] = css.match(/\\d+/g).map(Number);
            return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b); };
        const [a, b] = [luminance(style.color), luminance(style.backgroundColor)]
            .sort((x, y) => y - x);
        return (a + 0.05) / (b + 0.05);
    }""", selector))


def test_the_header_holds_one_row_at_1366_in_both_languages_and_nothing_is_missing(
        campus: tuple[Console, Mosquitto], browser: Browser) -> None:
    console, _ = campus
    for language in ("zh-CN", "en"):
        page = login(console, browser, "chief", language, 1366, 768)  # the most links
        missing: list[str] = []

        def record(response: Response, missing: list[str] = missing) -> None:
            if response.status >= 400:
                missing.append(response.url)

        page.on("response", record)
        for name in ("", *PAGES, "audit"):
            page.goto(console.url + name)
            page.wait_for_load_state("networkidle")
            layout = page.evaluate("""() => {
                const header = document.querySelector('header.top');
                const tops = [...header.children].filter((c) => c.offsetParent)
                    .map((c) => c.getBoundingClientRect()).map((r) => r.top + r.height / 2);
                const links = [...header.querySelectorAll('nav a')].map((a) => {
                    const style = getComputedStyle(a);
                    return a.getBoundingClientRect().height / parseFloat(style.lineHeight); });
                const nav = header.querySelector('nav');
                return {spread: Math.max(...tops) - Math.min(...tops), lines: Math.max(...links),
                        hidden: nav.scrollWidth - nav.clientWidth,
                        who: header.querySelector('.who').innerText};
            }""")
            assert layout["spread"] < 8, f"{language} /{name}: the header wraps into rows"
            assert layout["lines"] < 1.9, f"{language} /{name}: a navigation label breaks"
            assert layout["hidden"] <= 1, f"{language} /{name}: pages scrolled out of the nav"
            assert "supervisor" not in layout["who"] or language == "en"  # the role is worded
        assert not missing, f"asked for and not found: {missing}"  # the favicon among them
        page.evaluate("""() => document.body.append(Object.assign(document.createElement('button'),
            {className: 'ack', id: 'probe', textContent: 'x'}))""")
        assert contrast(page, "#probe") >= 4.5  # the acknowledge button, WCAG AA
        page.context.close()


def test_an_alarm_raised_on_any_page_shows_in_the_alarm_bar_and_sounds(
        campus: tuple[Console, Mosquitto], browser: Browser) -> None:
    console, _ = campus
    page = login(console, browser, "guard1", "zh-CN")
    page.click("#duty")
    presses = [("io-0", "btn-a", "Room 0A"), ("io-0", "btn-b", "Room 0B"),
               ("io-1", "btn-a", "Room 1A"), ("io-1", "btn-b", "Room 1B")]
    for count, (name, (device, point, room)) in enumerate(zip(PAGES, presses, strict=True), 1):
        page.goto(console.url + name)
        expect(page.locator("#alarm-bar")).to_have_attribute("data-count", str(count - 1)
                                                             if count > 1 else "0")
        console.sims.press(device, point)
        bar = page.locator("#alarm-bar")
        expect(bar).to_have_attribute("data-count", str(count), timeout=5000)
        expect(bar.locator(".count[data-severity=critical]")).to_have_text(f"紧急 {count}")
        expect(bar.locator("a.newest")).to_contain_text(room)  # the newest critical one
        if name == "devices":
            assert playing(page) > 0.05, "the siren is silent off the board"
            page.set_viewport_size({"width": 1366, "height": 768})
            screenshot(page, "alarm-bar-devices")
    chief = login(console, browser, "chief", "en")
    chief.goto(console.url + "audit")
    expect(chief.locator("#alarm-bar .count[data-severity=critical]")).to_have_text("CRITICAL 4")
    chief.context.close()
    newest = page.locator("#alarm-bar a.newest")
    alarm_id = newest.get_attribute("data-newest")
    newest.click()  # one click to it
    page.wait_for_url(console.url + f"alarms/{alarm_id}")
    expect(page.locator("#detail-actions button.ack")).to_be_visible()
    page.context.close()


def test_the_status_strip_follows_the_broker_and_a_lockdown_from_a_gate_house_panic(
        campus: tuple[Console, Mosquitto], browser: Browser) -> None:
    console, broker = campus
    board = login(console, browser, "chief", "en")
    strip = board.locator("#status-strip")
    platform = strip.locator("[data-item=platform]")
    expect(platform).to_have_attribute("data-state", "ok", timeout=5000)
    expect(strip.locator("[data-item=lockdown]")).to_have_text("No lockdown")
    expect(strip.locator("[data-item=devices]")).to_have_text("All devices online")
    expect(strip.locator("#site-clock")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))

    gates = login(console, browser, "chief", "en")
    gates.goto(console.url + "access")
    gates.evaluate("window.notReloaded = true")
    console.sims.press("io-5", "btn-a")  # zone-5: the gate house, whose panic locks down
    lockdown = strip.locator("[data-item=lockdown]")
    expect(lockdown).to_have_attribute("data-state", "bad", timeout=10_000)
    expect(lockdown).to_have_text(re.compile(
        r"^LOCKDOWN · by linkage gate-house-lockdown · since \d\d:\d\d:\d\d \(\d+:\d\d\)$"))
    expect(gates.locator("section.access > h1")).to_contain_text("LOCKDOWN")
    expect(gates.locator("tr[data-gate=main] .mode")).to_have_text("locked")
    expect(gates.locator("#lockdown-button")).to_have_text("End lockdown")
    assert gates.evaluate("window.notReloaded") is True  # live, not reloaded
    devices_page = gates
    devices_page.goto(console.url + "devices")

    broker.stop()
    expect(platform).to_have_attribute("data-state", "bad", timeout=10_000)
    expect(platform).to_contain_text("DOWN for")
    expect(devices_page.locator("#broker")).to_have_text("DISCONNECTED")  # live there too
    console.sims.press("io-2", "btn-a")  # kept in the outbox meanwhile
    expect(platform.locator(".backlog")).not_to_have_text("0", timeout=10_000)
    time.sleep(1.5)  # the duration counts on the page
    assert re.search(r"DOWN for 0:0[1-9]", platform.inner_text())
    keep_picture(board, "status-strip", "#status-strip")
    broker.start()
    expect(platform).to_have_attribute("data-state", "ok", timeout=20_000)
    expect(platform.locator(".backlog")).to_have_text("0", timeout=20_000)
    expect(devices_page.locator("#broker")).to_have_text("connected")
    devices_page.context.close()

    console.sims.run(lambda: console.sims.campus.io_module("io-4").go_offline("refuse"))
    devices = strip.locator("[data-item=devices]")
    expect(devices).to_have_text("1 offline: io-4", timeout=15_000)
    console.sims.run(lambda: console.sims.campus.io_module("io-4").go_online())
    expect(devices).to_have_text("All devices online", timeout=15_000)
    card = board.locator("#standing-cards [data-standing=lockdown]")  # it needs an action
    expect(card).to_contain_text("by linkage gate-house-lockdown")
    card.locator("button").click()
    expect(strip.locator("[data-item=lockdown]")).to_have_text("No lockdown", timeout=10_000)
    expect(card).to_have_count(0)
    devices.click()  # through to the devices page
    board.wait_for_url(console.url + "devices")
    board.context.close()


def test_a_note_being_typed_survives_50_events_and_a_fire_sorts_first_in_a_flood(
        campus: tuple[Console, Mosquitto], browser: Browser) -> None:
    console, _ = campus
    page = login(console, browser, "guard1", "en")
    card = page.locator("article.alarm", has_text="/ btn-a").filter(has_text="Room 0A")
    alarm_id = card.get_attribute("data-alarm")
    note = card.locator("input.note")
    note.click()
    page.keyboard.type("smoke seen")
    before = len(console.subscriber.events())
    for device, point in (("io-2", "btn-b"), ("io-3", "btn-a"), ("io-3", "btn-b"),
                          ("io-4", "btn-a"), ("io-4", "btn-b")):
        console.sims.press(device, point)  # new alarms: more than 10 open, a flood
        time.sleep(0.2)
    while len(console.subscriber.events()) < before + 50:  # and returns, re-activations
        for device in ("io-3", "io-4"):
            console.sims.release(device, "btn-b")
            time.sleep(0.15)
            console.sims.press(device, "btn-b")
            time.sleep(0.15)
    expect(page.locator("h2.flood")).to_be_visible()
    page.keyboard.type(" on 2F")
    kept = page.evaluate("""() => [document.activeElement.value,
        document.activeElement.closest('[data-alarm]')?.dataset.alarm]""")
    assert kept == ["smoke seen on 2F", alarm_id]

    console.sims.run(lambda: console.sims.campus.device("fire-panel-a")
                     .raise_condition("L1-P12", "fire"))
    first = page.locator("#alarms > details.group").first
    expect(first).to_have_attribute("data-group", re.compile(r"^fire "), timeout=10_000)
    groups = page.locator("#alarms > details.group")
    assert groups.nth(1).get_attribute("data-group") != first.get_attribute("data-group")
    assert page.evaluate("document.activeElement.value") == "smoke seen on 2F"
    fire_release = page.locator("#status-strip [data-item=fire]")  # the egress gate stands open
    expect(fire_release).to_have_attribute("data-state", "bad", timeout=10_000)
    expect(fire_release).to_have_text("Fire release: exits stand open")
    keep_picture(page, "board")
    page.context.close()


def test_focus_stays_after_acknowledging_and_a_held_button_says_why_no_reset(
        campus: tuple[Console, Mosquitto], browser: Browser) -> None:
    console, _ = campus
    page = login(console, browser, "guard1", "en")
    card = page.locator("article.alarm", has_text="Room 3A")
    alarm_id = card.get_attribute("data-alarm")
    card.locator("button.ack").focus()
    page.keyboard.press("Enter")
    console.subscriber.wait_event("alarm.acknowledged", timeout=10)
    expect(card.locator("button.ack")).to_have_count(0)
    focused = page.evaluate("document.activeElement.closest('[data-alarm]')?.dataset.alarm")
    assert focused == alarm_id

    page.goto(console.url + f"alarms/{alarm_id}")  # still held: no reset, and why
    expect(page.locator("#detail-actions .reset-hint")).to_contain_text("still pressed")
    expect(page.locator("#detail-actions button.reset")).to_have_count(0)
    # asked all the same (from another console, say), the refusal is worded, not the raw text
    page.evaluate("(id) => command('alarm.reset', {alarm_id: id, note: 'x'})", alarm_id)
    refused = page.locator(".notice.bad").last
    expect(refused).to_contain_text("Refused: the alarm is still active: reset the button")
    assert alarm_id not in (refused.text_content() or "")
    assert "cannot be reset" in (refused.get_attribute("title") or "")  # the gateway's words
    console.sims.release("io-3", "btn-a")
    expect(page.locator("#detail-actions button.reset")).to_be_visible(timeout=10_000)
    expect(page.locator("#detail-actions .reset-hint")).to_have_count(0)

    page.goto(console.url)  # a note typed on an alarm's own page outlasts the alarm's changes
    other = page.locator("article.alarm", has_text="Room 4A").get_attribute("data-alarm")
    page.goto(console.url + f"alarms/{other}")
    note = page.locator("#detail-actions input.note")
    note.fill("going now")
    page.evaluate("window.notReloaded = true")
    console.sims.release("io-4", "btn-a")
    expect(page.locator("#detail-actions button.reset")).to_be_visible(timeout=10_000)
    expect(note).to_have_value("going now")
    assert page.evaluate("window.notReloaded") is True
    page.context.close()
