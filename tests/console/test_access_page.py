"""The console's gates and visitors page in a real browser: a guard registers a visitor and
prints the pass, sees who is on campus, opens a gate; a supervisor locks the campus down."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import Mosquitto, Subscriber
from tests.console.conftest import Console, console_site, screenshot
from tests.http_gate.support import ENV, isapi_controller, section
from tests.rig import CHIEF_TOKEN, GatewayProcess, SimulatorThread, cli


@pytest.fixture
def access_console(tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber,
                   monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    site, url = console_site(tmp_path, mosquitto.url, modules=0, extra={
        "access": {"gates": [{"id": "north-vehicle", "name": "North gate", "egress": True}],
                   "visitors": {"default_gates": ["north-vehicle"]}},
        "devices": [section(isapi_controller("asks", doors=[
            {"door": 1, "reader": 1, "gate": "north-vehicle", "direction": "in"},
            {"door": 1, "reader": 2, "gate": "north-vehicle", "direction": "out"}]))]})
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", device="north-vehicle-gate", timeout=20)
        cards = tmp_path / "cards.csv"
        cards.write_text("person_id,category,code\nS1,student,4242\n")
        assert cli(site, "credentials", "import", str(cards), operator="chief",
                   token=CHIEF_TOKEN).returncode == 0
        yield Console(url, site, sims, gateway, subscriber)
    finally:
        gateway.stop()
        sims.stop()


def test_a_guard_registers_a_visitor_and_a_supervisor_locks_down(
        access_console: Console, browser: Browser) -> None:
    c = access_console
    c.sims.run(lambda: c.sims.campus.act("gate-controllers", "present-card", {"card": "4242"}))
    c.subscriber.wait_event("access.granted")
    guard = c.login(browser, "guard1", "en")
    guard.goto(c.url + "access")
    expect(guard.locator("table.roll-call")).to_contain_text("S1")
    form = guard.locator("form.visitor")
    form.locator("input[name=name]").fill("Ms Li")
    form.locator("input[name=host]").fill("T1002")
    form.locator("input[name=purpose]").fill("parent meeting")
    form.locator("input[name=valid_until]").fill("2099-01-01T12:00")
    form.locator("input[name=valid_until]").evaluate(
        "el => { el.value = new Date(Date.now() + 2 * 3600e3).toISOString().slice(0, 16); }")
    form.locator("button[type=submit]").click()
    expect(guard.locator("#pass-code")).to_have_text(re.compile(r"^\d{12}$"))
    qr = guard.locator("#pass img")
    expect(qr).to_be_visible()
    assert guard.evaluate("() => document.querySelector('#pass img').naturalWidth") > 0
    code = guard.locator("#pass-code").inner_text()
    registered, = c.subscriber.wait_event("visitor.registered")
    assert registered["data"]["gates"] == ["north-vehicle"]
    # the visitor's pass opens the gate
    c.sims.run(lambda: c.sims.campus.act("gate-controllers", "present-card", {"card": code}))
    entered, = c.subscriber.wait_event("visitor.entered")
    assert entered["data"]["entries_used"] == 1
    guard.goto(c.url + "access")
    expect(guard.locator("table.roll-call")).to_contain_text("Ms Li")
    expect(guard.locator("#lockdown-button")).to_have_count(0)  # a guard cannot lock down
    guard.locator("tr[data-gate=north-vehicle] button").click()
    c.subscriber.wait_event("audit.command", command="gate.open")
    screenshot(guard, "access-page")
    chief = c.login(browser, "chief", "zh-CN")
    chief.goto(c.url + "access")
    chief.locator("form[data-command='lockdown.start'] input[name=note]").fill("演练")
    chief.locator("#lockdown-button").click()
    expect(chief.locator("h1")).to_contain_text("封校中")
    c.subscriber.wait_event("access.gate_mode", mode="locked")
    expect(chief.locator("tr[data-gate=north-vehicle] .mode")).to_have_text("锁闭")
    chief.locator("#lockdown-button").click()
    expect(chief.locator("h1")).to_contain_text("未封校")
