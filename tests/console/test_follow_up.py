"""Follow-up, history, instructions, the evacuation roll call and the supervisor's view, in
Debian's Chromium against the gateway as its own process, simulators on real sockets (I/O
modules, a fire panel, an ISAPI gate controller) and a real mosquitto."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Mosquitto, Subscriber, free_port
from tests.console.conftest import SCREENSHOTS, Console, console_site, document, screenshot
from tests.http_gate.support import ENV, isapi_controller, section
from tests.rig import CHIEF_TOKEN, GatewayProcess, SimulatorThread, cli

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = {"4001": ("S1", "student", "王小明"), "4002": ("T1", "staff", "Li Lei"),
          "4003": ("S2", "student", "=HYPERLINK(1)"), "4004": ("T2", "staff", "Zhao Min")}
SITE_ZONE = ZoneInfo("Asia/Shanghai")  # the test site's (the default) time zone


@pytest.fixture(scope="module")
def campus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """Two I/O modules, a fire panel and a vehicle gate whose people are on the roll call."""
    tmp_path = tmp_path_factory.mktemp("follow-up")
    broker = Mosquitto(tmp_path)
    broker.start()
    subscriber = Subscriber(broker.url)
    monkeypatch = pytest.MonkeyPatch()
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    site, url = console_site(tmp_path, broker.url, modules=2, console={
        "zones": {"zone-0": "Guard booth"}}, first_report_within="2s",
        written_report_within="1h")
    doc: dict[str, Any] = yaml.safe_load(site.read_text())
    doc["devices"] += [
        {"id": "fire-panel", "driver": "modbus_fire", "profile": "status-word-v1",
         "tcp": {"host": "127.0.0.1", "port": free_port()}, "poll_interval": "50ms",
         "timeout": "500ms", "zones": {1: "building-a"},
         "points": [{"loop": 1, "point": 12, "zone": "building-a",
                     "location": "Building A stairwell"}]},
        section(isapi_controller("asks", doors=[
            {"door": 1, "reader": 1, "gate": "north-vehicle", "direction": "in"},
            {"door": 1, "reader": 2, "gate": "north-vehicle", "direction": "out"}]))]
    doc["access"] = {"gates": [{"id": "north-vehicle", "name": "North gate", "egress": True}]}
    doc["instructions"] = {
        "panic": {"text": "Take the radio and go to the button.",
                  "call": ["Duty head 138 0000 0001", "110"], "go_to": "The alarm's room"},
        "fire": {"text": "Check the panel, then call the roll at the assembly point.",
                 "call": ["119"], "go_to": "Sports ground"}}
    site.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        for device in ("io-0", "io-1", "fire-panel", "north-vehicle-gate"):
            subscriber.wait_event("device.online", device=device, timeout=30)
        cards = tmp_path / "cards.csv"
        cards.write_text("person_id,category,code,name\n" + "".join(
            f"{p},{c},{code},{n}\n" for code, (p, c, n) in PEOPLE.items()), encoding="utf-8")
        done = cli(site, "credentials", "import", str(cards), operator="chief", token=CHIEF_TOKEN)
        assert done.returncode == 0, done.stderr
        yield Console(url, site, sims, gateway, subscriber)
    finally:
        gateway.stop()
        sims.stop()
        subscriber.close()
        broker.stop()
        monkeypatch.undo()
        print(gateway.output()[-3000:])


def raise_panic(c: Console, device: str, point: str) -> str:
    before = len(c.subscriber.events("alarm.raised"))
    c.sims.press(device, point)
    raised = c.subscriber.wait_event("alarm.raised", count=before + 1)
    return str(raised[-1]["data"]["alarm"]["alarm_id"])


def through_gate(c: Console, card: str, reader: int = 1) -> None:
    """A card at the north gate: reader 1 lets people in, reader 2 out."""
    before = len(c.subscriber.events("access.granted"))
    c.sims.run(lambda: c.sims.campus.act("gate-controllers", "present-card",
                                         {"card": card, "reader": reader}))
    c.subscriber.wait_event("access.granted", count=before + 1)


def act(page: Page, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """A command as the page script sends it (the session, its CSRF token)."""
    answer: dict[str, Any] = page.evaluate("([n, a]) => command(n, a)", [name, args])
    return answer


def test_a_reset_alarm_with_a_report_due_stays_a_task_until_marked(
        campus: Console, browser: Browser) -> None:
    c = campus
    guard = c.login(browser, "guard1", "zh-CN")
    alarm_id = raise_panic(c, "io-0", "btn-a")
    card = guard.locator(f"#alarm-{alarm_id}")
    # the site file's instructions for a panic, on the card; the zone by its name
    expect(card.locator(".instructions")).to_contain_text("Take the radio and go to the button.")
    expect(card.locator(".instructions")).to_contain_text("Duty head 138 0000 0001")
    expect(card.locator(".instructions")).to_contain_text("The alarm's room")
    expect(card.locator("button", has_text="标记已首报")).to_be_visible()
    c.sims.release("io-0", "btn-a")
    c.subscriber.wait_event("alarm.returned")
    expect(card.locator("button.reset")).to_be_visible()
    card.locator("input.closing").fill("误报")
    card.locator("button.reset").click()
    c.subscriber.wait_event("alarm.closed")
    expect(guard.locator(f"#alarm-{alarm_id}")).to_have_count(0)
    # it left the board, not the guard: one task, counted on every page
    expect(guard.locator("#task-count")).to_have_text("1")
    c.subscriber.wait_event("alarm.report_overdue", report="first")  # 2 s in this site
    guard.goto(c.url + "tasks")
    row = guard.locator(f"tr[data-task='{alarm_id}']")
    expect(row).to_contain_text("Guard booth")
    expect(row.locator("li[data-kind=first] .overdue")).to_have_text("已超时")
    guard.set_viewport_size({"width": 1366, "height": 768})
    screenshot(guard, "tasks")
    row.locator("li[data-kind=first] button").click()
    c.subscriber.wait_event("alarm.reported", report="first")
    expect(guard.locator(f"tr[data-task='{alarm_id}'] li[data-kind=first]")).to_contain_text(
        "已完成")
    expect(guard.locator("#task-count")).to_have_text("1")
    guard.locator(f"tr[data-task='{alarm_id}'] li[data-kind=written] button").click()
    c.subscriber.wait_event("alarm.reported", report="written")
    expect(guard.locator(f"tr[data-task='{alarm_id}']")).to_have_count(0)
    expect(guard.locator("#task-count")).to_be_hidden()
    # the closed alarm's page still answers, from the history, with its instructions
    guard.goto(c.url + f"alarms/{alarm_id}")
    expect(guard.locator("#instructions")).to_contain_text("110")
    expect(guard.locator(".timeline")).to_contain_text("已书面报告")
    expect(guard.locator("dl.facts")).to_contain_text("I/O module 0 / btn-a")  # the site's name
    expect(guard.locator("article.alarm-detail table.log")).to_contain_text("报警已确认")
    # an alarm the gateway no longer holds answers a page, not JSON
    gone = guard.goto(c.url + "alarms/alm-0000-gone")
    assert gone is not None and gone.status == 404
    expect(guard.locator(".refused")).to_contain_text("网关已不再保存此报警")
    guard.context.close()


def test_history_search_by_zone_and_operator(campus: Console, browser: Browser) -> None:
    c = campus
    guard = c.login(browser, "guard1", "en")
    other = raise_panic(c, "io-1", "btn-b")
    assert act(guard, "alarm.acknowledge", {"alarm_id": other})["status"] == "ok"
    booth = raise_panic(c, "io-0", "btn-b")  # in the zone the site file names
    c.sims.release("io-0", "btn-b")
    c.subscriber.wait_for(lambda _m: [e for e in c.subscriber.events("alarm.returned")
                                      if e["data"]["alarm"]["alarm_id"] == booth])
    assert act(guard, "alarm.reset", {"alarm_id": booth, "note": "test"})["status"] == "ok"
    guard.goto(c.url + "history")
    expect(guard.locator(f"tr[data-alarm-row='{other}']")).to_be_visible()
    # an open alarm's page marks its reports too
    guard.locator(f"tr[data-alarm-row='{other}'] a").click()
    with guard.expect_navigation():  # the alarm's page reloads for its timeline once marked
        guard.locator("ul.deadlines button", has_text="Mark first report sent").click()
    c.subscriber.wait_for(lambda _m: [e for e in c.subscriber.events("alarm.reported")
                                      if e["data"]["alarm"]["alarm_id"] == other])
    guard.goto(c.url + "history")
    guard.locator("select[name=zone]").select_option("zone-1")
    guard.locator("form.history button[type=submit]").click()
    expect(guard.locator(f"tr[data-alarm-row='{other}']")).to_be_visible()
    rows = guard.locator("table.history tbody tr[data-alarm-row]")
    zones = [z.strip() for z in rows.locator("td:nth-child(3)").all_inner_texts()]
    assert zones and set(zones) == {"zone-1"}
    # the zone the site file names is searched by that name's id and shown by the name
    guard.goto(c.url + "history?zone=zone-0")
    zones = guard.locator("table.history tbody tr[data-alarm-row] td:nth-child(3)")
    expect(zones.first).to_have_text("Guard booth")
    screenshot(guard, "history")
    guard.goto(c.url + "history?operator=guard1&condition=panic")
    expect(guard.locator(f"tr[data-alarm-row='{other}']")).to_contain_text("guard1")
    guard.goto(c.url + "history?zone=nowhere")
    expect(guard.locator("table.history tbody")).to_contain_text("No alarm matches.")
    # by time raised, in the site's time: from a minute ago finds it, from tomorrow nothing
    recent = (datetime.now(SITE_ZONE) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    guard.goto(c.url + f"history?since={recent}&zone=zone-1")
    expect(guard.locator(f"tr[data-alarm-row='{other}']")).to_be_visible()
    tomorrow = (datetime.now(SITE_ZONE) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    guard.goto(c.url + f"history?since={tomorrow}")
    expect(guard.locator("table.history tbody")).to_contain_text("No alarm matches.")
    guard.context.close()


def test_the_roll_call_from_a_fire_alarm_live_ticked_printed_and_exported(
        campus: Console, browser: Browser) -> None:
    c = campus
    for card in ("4001", "4002", "4003"):
        through_gate(c, card)
    guard = c.login(browser, "guard1", "en")
    c.sims.run(lambda: c.sims.campus.act("fire-panel", "fire", {"point": "L1-P12"}))
    raised = c.subscriber.wait_for(lambda _m: [
        e for e in c.subscriber.events("alarm.raised")
        if e["data"]["alarm"]["condition"] == "fire"])
    fire_id = raised[0]["data"]["alarm"]["alarm_id"]
    card = guard.locator(f"#alarm-{fire_id}")
    expect(card.locator(".instructions")).to_contain_text("Sports ground")
    card.locator("a.evacuation-link").click()
    guard.wait_for_url(re.compile(r"/evacuation\?alarm="))
    expect(guard.locator("#on-campus-count")).to_have_text("3")
    guard.locator("#evacuation-start").click()
    started, = c.subscriber.wait_event("audit.command", command="evacuation.start")
    assert started["data"]["args"] == {"alarm_id": fire_id}
    rows = guard.locator("#roll-rows tr[data-person]")
    expect(rows).to_have_count(3)
    expect(guard.locator("tr[data-person=S1] td.name")).to_contain_text("王小明")
    expect(guard.locator("tr[data-person=T1]")).to_contain_text("staff")
    evacuation = guard.locator("#evacuation").get_attribute("data-evacuation")
    assert evacuation and evacuation.startswith("evac-")
    # tick-off at the assembly point: audited with the roll call's id
    guard.locator("tr[data-person=S1] input.tick").check()
    ticked, = c.subscriber.wait_event("audit.command", command="evacuation.tick")
    assert ticked["data"]["args"] == {"evacuation_id": evacuation, "person_id": "S1",
                                      "present": True}
    assert ticked["data"]["operator"] == "guard1" and ticked["data"]["outcome"] == "ok"
    expect(guard.locator("#assembled-count")).to_have_text("1")
    expect(guard.locator("#missing-count")).to_have_text("2")
    expect(guard.locator("tr[data-person=S1] td.ticked-by")).to_contain_text("guard1")
    # live: someone coming in through the gate joins the open page without a reload
    guard.evaluate("window.__same = true")
    through_gate(c, "4004")
    expect(guard.locator("tr[data-person=T2]")).to_contain_text("Zhao Min T2")
    expect(guard.locator("tr[data-person=T2]")).to_contain_text("North gate")
    expect(guard.locator("#missing-count")).to_have_text("3")
    through_gate(c, "4002", reader=2)  # and someone leaving through it drops off
    expect(guard.locator("tr[data-person=T1]")).to_have_count(0)
    expect(guard.locator("#on-campus-count")).to_have_text("3")
    expect(guard.locator("#missing-count")).to_have_text("2")
    through_gate(c, "4002")  # back in, before the export
    expect(guard.locator("tr[data-person=T1]")).to_have_count(1)
    assert guard.evaluate("window.__same") is True
    guard.set_viewport_size({"width": 1366, "height": 768})
    guard.screenshot(path=str(SCREENSHOTS / "evacuation.png"))  # the screen, as printed
    document("evacuation")
    # the CSV is who passed the gates, ticks included; a name that looks like a formula is text
    with guard.expect_download() as download:
        guard.locator("#export-csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    exported = {row["person_id"]: row for row in csv.DictReader(io.StringIO(text))}
    granted = {e["data"]["person_id"] for e in c.subscriber.events("access.granted")}
    assert set(exported) == granted == {"S1", "T1", "S2", "T2"}
    assert exported["S1"]["name"] == "王小明" and exported["S1"]["ticked_off"] == "yes"
    assert exported["S1"]["ticked_by"] == "guard1" and exported["T1"]["ticked_off"] == "no"
    assert exported["S2"]["name"] == "'=HYPERLINK(1)"
    # printed: the roll call alone, without the navigation and the buttons
    guard.emulate_media(media="print")
    expect(guard.locator("header.top")).to_be_hidden()
    expect(guard.locator("#print-roll")).to_be_hidden()
    expect(guard.locator("#roll-rows tr[data-person]")).to_have_count(4)
    guard.emulate_media(media="screen")
    # ending it is audited too; a tick for the ended roll call is refused, naming why
    guard.locator("#evacuation-end").click()
    c.subscriber.wait_event("audit.command", command="evacuation.end")
    expect(guard.locator("#evacuation-start")).to_be_visible()  # the page, reloaded
    late = act(guard, "evacuation.tick", {"evacuation_id": evacuation, "person_id": "T1"})
    assert late["status"] == "error" and "not the open one" in late["error"]["message"]
    guard.context.close()


def test_the_supervisors_view_counts_a_known_sequence(campus: Console,
                                                       browser: Browser) -> None:
    c = campus
    # counted from the next whole second, once what earlier tests raised has all arrived
    c.subscriber.settle()
    start = datetime.now(SITE_ZONE).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(max(0.0, (start - datetime.now(SITE_ZONE)).total_seconds()))
    since = start.strftime("%Y-%m-%dT%H:%M:%S")
    chief = c.login(browser, "chief", "en")
    guard = c.login(browser, "guard1", "zh-CN")
    # twelve line faults within a few seconds: a flood (more than 10 in 10 minutes), each
    # acknowledged by the supervisor once it cleared; one panic acknowledged by the guard
    for n in range(12):
        c.sims.run(lambda: c.sims.module("io-1").set_line_fault("btn-a", True))
        raised = c.subscriber.wait_for(lambda _m, n=n: len(
            [e for e in c.subscriber.events("alarm.raised")
             if e["data"]["alarm"]["condition"] == "line_fault"]) > n and [
            e for e in c.subscriber.events("alarm.raised")
            if e["data"]["alarm"]["condition"] == "line_fault"])
        alarm_id = raised[n]["data"]["alarm"]["alarm_id"]
        assert act(chief, "alarm.acknowledge", {"alarm_id": alarm_id})["status"] == "ok"
        c.sims.run(lambda: c.sims.module("io-1").set_line_fault("btn-a", False))
        c.subscriber.wait_for(lambda _m, a=alarm_id: [
            e for e in c.subscriber.events("alarm.closed") if e["data"]["alarm"]["alarm_id"] == a])
    panic = raise_panic(c, "io-0", "btn-b")
    assert act(guard, "alarm.acknowledge", {"alarm_id": panic})["status"] == "ok"
    chief.goto(c.url + f"supervisor?since={since}")
    expect(chief.locator("#load-alarms")).to_have_text("13")
    expect(chief.locator("#load-floods")).to_have_text("1")
    expect(chief.locator("ul.floods li")).to_contain_text("13 alarms")
    expect(chief.locator("#load-standing")).to_have_text("0")
    expect(chief.locator("tr[data-operator=chief] td.count")).to_have_text("12")
    expect(chief.locator("tr[data-operator=guard1] td.count")).to_have_text("1")
    chief.set_viewport_size({"width": 1366, "height": 768})
    screenshot(chief, "supervisor")
    # the handover note goes into the audit and stays on the view
    chief.locator("#handover-note").fill("Gate camera 2 is covered by scaffolding until Friday.")
    chief.locator("#handover button[type=submit]").click()
    note, = c.subscriber.wait_event("audit.command", command="shift.handover")
    assert note["data"]["operator"] == "chief"
    expect(chief.locator("#handover-notes")).to_contain_text("scaffolding until Friday")
    chief.goto(c.url + "audit")
    expect(chief.locator("table.log thead")).to_contain_text("Reason")
    first_time = chief.locator("table.log tbody tr td").first.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", first_time), first_time
    expect(chief.locator("table.log tbody td.outcome").first).to_have_text("done")
    # the supervisor's pages answer a guard with a page that says so, not JSON
    for path in ("supervisor", "audit"):
        refused = guard.goto(c.url + path)
        assert refused is not None and refused.status == 403
        expect(guard.locator(".refused")).to_contain_text("您的角色不能查看此页面")
    chief.context.close()
    guard.context.close()


def test_the_event_log_names_types_deny_reasons_and_lanes(campus: Console,
                                                         browser: Browser) -> None:
    c = campus
    c.sims.run(lambda: c.sims.campus.act("gate-controllers", "present-card",
                                         {"card": "9999", "reader": 1}))
    c.subscriber.wait_event("access.denied")
    raise_panic(c, "io-1", "btn-a")
    guard = c.login(browser, "guard1", "zh-CN")
    guard.goto(c.url + "events?type=access.denied")
    row = guard.locator("tr[data-type='campus.access.denied']").first
    expect(row).to_contain_text("通行拒绝")
    expect(row.locator("td.decision")).to_contain_text("未知卡")
    expect(row.locator("td.decision")).to_contain_text("通道 North gate")
    guard.goto(c.url + "events?type=panic")
    expect(guard.locator("tr[data-type='campus.panic.pressed']").first).to_contain_text(
        "一键报警按下")
    guard.context.close()
