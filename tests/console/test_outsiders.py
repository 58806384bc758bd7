"""The console against outsiders, through real HTTP to the gateway as its own process: bodies
over a route's limit refused before they are read, bad JSON answered 400, failed logins that
slow the client down but never lock the guard out, proxy headers believed only from a named
proxy, sessions that end at the next request after ``operator disable``/``passwd``, device
actions checked against the role that owns them, and start-up data that markup cannot break."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.console.conftest import PASSWORDS, Console
from tests.rig import CHIEF_TOKEN, cli

ATTACKER = "127.0.0.2"  # another client address on the loopback network


def client(console: Console, address: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(base_url=console.url, follow_redirects=False, timeout=10,
                        transport=httpx.HTTPTransport(local_address=address))


def login(web: httpx.Client, name: str, password: str,
          headers: dict[str, str] | None = None) -> httpx.Response:
    form = web.get("login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    return web.post("login", data={"name": name, "password": password, "csrf": csrf},
                    headers=headers)


def boot_of(web: httpx.Client) -> dict[str, Any]:
    page = web.get("")
    assert page.status_code == 200, page.text
    text = page.text.split('<script type="application/json" id="boot">')[1].split("</script>")[0]
    return dict(json.loads(text))


def signed_in(console: Console, name: str, address: str = "127.0.0.1") -> httpx.Client:
    web = client(console, address)
    answer = login(web, name, PASSWORDS[name])
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return web


def raw_exchange(port: int, head: bytes, body_chunks: Iterator[bytes]) -> bytes:
    """Send a request over a plain socket, as much of its body as the server takes; the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while the body was still coming
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
            answer += sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def test_bodies_over_a_routes_limit_are_refused_before_anything_reads_them(
        guarded: Console, tmp_path: Path) -> None:
    port = int(guarded.url.rsplit(":", 1)[1].strip("/"))
    # 2 GiB declared: refused by its Content-Length, before one byte of it is read
    declared = raw_exchange(port, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
                            b"form-data; boundary=b\r\nContent-Length: 2147483648\r\n\r\n",
                            iter([]))
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
    assert b"at most 4096 bytes" in declared and b"2147483648" in declared

    # the same upload chunked, with no length: refused once 4 KiB have come
    def upload() -> Iterator[bytes]:
        part = (b"--b\r\nContent-Disposition: form-data; name=\"name\"; filename=\"x\"\r\n\r\n"
                + b"A" * 60_000)
        yield b"%x\r\n%s\r\n" % (len(part), part)
        for _ in range(50):  # 3 MiB more, unless the server has stopped listening
            yield b"%x\r\n%s\r\n" % (65536, b"A" * 65536)
        yield b"0\r\n\r\n"

    chunked = raw_exchange(port, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
                           b"form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n",
                           upload())
    assert chunked.startswith(b"HTTP/1.1 413"), chunked[:200]
    assert b"more was sent" in chunked
    assert not list((tmp_path / "gateway-tmp").iterdir()), "a form reached the disk"
    # a body trickled to hold the connection: cut off once its time is up
    trickled = raw_exchange(port, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                            b"x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
                            iter([b"name=guard"]))
    assert trickled.startswith(b"HTTP/1.1 408"), trickled[:200]
    assert b"did not arrive within 10 s (10 bytes came)" in trickled

    web = client(guarded)
    form = web.get("login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    small_file = web.post("login", data={"name": "guard1", "csrf": csrf},
                          files={"password": ("p.txt", b"guard-password-1")})
    assert small_file.status_code == 400 and "files" in small_file.text
    many = web.post("login", data={f"f{n}": "x" for n in range(6)})
    assert many.status_code == 400 and "fields" in many.text.lower()
    long_field = web.post("login", data={"name": "guard1", "password": "p" * 1000, "csrf": csrf})
    assert long_field.status_code == 400 and "maximum size" in long_field.text
    long_name = web.post("login", data={"name": "n" * 100, "password": "p", "csrf": csrf})
    assert long_name.status_code == 400
    assert "name is 100 characters; the limit is 64" in long_name.json()["error"]["message"]

    # JSON: parsed by the boundary, bad input answered 400/413 with what was wrong
    guard = signed_in(guarded, "guard1")
    csrf = boot_of(guard)["csrf"]
    sent = {"x-csrf-token": csrf, "content-type": "application/json"}
    not_json = guard.post("api/language", content=b"language=en", headers=sent)
    assert not_json.status_code == 400
    assert "the language request is not JSON" in not_json.json()["error"]["message"]
    deep = guard.post("api/language", content=b"[" * 50_000 + b"]" * 50_000, headers=sent)
    assert deep.status_code == 413  # 100 kB: over the route's limit, never parsed
    deep = guard.post("api/command/alarm.list", content=b"[" * 20_000 + b"]" * 20_000,
                      headers=sent)
    assert deep.status_code == 400 and "deeper than 32" in deep.json()["error"]["message"]
    not_object = guard.post("api/command/alarm.list", content=b"[1]", headers=sent)
    assert not_object.status_code == 400 and "must be a JSON object" in not_object.text
    broken = guard.post("api/command/alarm.list", content=b'{"args": {', headers=sent)
    assert broken.status_code == 400 and "is not JSON" in broken.json()["error"]["message"]
    assert guard.post("api/language", json={"language": "en"}, headers=sent).status_code == 200
    assert "Traceback" not in guarded.gateway.output()

    # the daemon is none the worse: an alarm still goes through to the board
    guarded.sims.press("io-0", "btn-a")
    guarded.subscriber.wait_event("alarm.raised", timeout=10)
    assert len(guard.get("api/state").json()["alarms"]) == 1


def test_failed_logins_slow_the_client_down_and_never_lock_the_guard_out(
        guarded: Console) -> None:
    attacker = client(guarded, ATTACKER)
    answers = [login(attacker, "guard1", f"guess-{n}") for n in range(5)]
    assert [a.headers["location"] for a in answers] == ["/login?error=login_failed"] * 4 + [
        "/login?error=login_wait"]
    # the next try from that client is refused before the password is checked, even the right
    # one, and naming another address in X-Forwarded-For changes nothing (no trusted proxy)
    refused = login(attacker, "guard1", PASSWORDS["guard1"], {"X-Forwarded-For": "10.1.2.3"})
    assert refused.headers["location"] == "/login?error=login_throttled"

    # the guard, at the guard-room computer, logs in at once
    guard = client(guarded)
    assert login(guard, "guard1", PASSWORDS["guard1"]).headers["location"] == "/"

    audits = guarded.subscriber.wait_event("audit.command", count=7, command="console.login")
    errors = [a["data"]["error"] for a in audits]
    assert all(f"from {ATTACKER}" in e for e in errors[:5]), errors
    assert "its next try waits 1 s" in errors[4]
    assert errors[5].startswith(f"throttled: {ATTACKER} waits") and "10.1.2.3" not in errors[5]
    assert audits[6]["data"]["outcome"] == "ok" and audits[6]["data"]["error"] == \
        "from 127.0.0.1"


@pytest.mark.parametrize("guarded", [{"trusted_proxies": ["127.0.0.1"]}], indirect=True)
def test_a_trusted_proxy_names_the_client_and_no_one_else_can(guarded: Console) -> None:
    proxy = client(guarded)  # the reverse proxy, on loopback, says who its clients are
    for n in range(5):
        login(proxy, "chief", f"guess-{n}", {"X-Forwarded-For": "10.0.0.66"})
    throttled = login(proxy, "chief", PASSWORDS["chief"], {"X-Forwarded-For": "10.0.0.66"})
    assert throttled.headers["location"] == "/login?error=login_throttled"
    ok = login(proxy, "chief", PASSWORDS["chief"], {"X-Forwarded-For": "10.0.0.5"})
    assert ok.headers["location"] == "/"
    # a client that is not the proxy cannot say where it is
    outsider = client(guarded, ATTACKER)
    login(outsider, "chief", "guess", {"X-Forwarded-For": "10.0.0.7"})
    audits = guarded.subscriber.wait_event("audit.command", count=8, command="console.login")
    errors = [a["data"]["error"] for a in audits]
    assert all("10.0.0.66" in e for e in errors[:6]), errors
    assert errors[6] == "from 10.0.0.5"
    assert f"from {ATTACKER}" in errors[7] and "10.0.0.7" not in errors[7]


def test_disable_ends_the_operators_sessions_and_passwd_asks_for_the_new_password(
        guarded: Console, tmp_path: Path) -> None:
    guard = signed_in(guarded, "guard1")
    chief = signed_in(guarded, "chief")
    assert guard.get("api/state").status_code == 200

    def operator(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "gateway.cli", "operator", *args, "-c",
                        str(guarded.site)], check=True, capture_output=True, env=os.environ)

    with guard.stream("GET", "api/stream") as stream:  # the board's live stream, open
        lines = stream.iter_lines()
        while not next(lines).startswith("retry:"):
            pass
        operator("disable", "guard1")
        guarded.sims.press("io-0", "btn-a")
        guarded.subscriber.wait_event("alarm.raised", timeout=10)
        after = list(lines)  # the stream ends, saying so, without the update that came
    assert [line for line in after if line.startswith("event:")] == ["event: ended"], after
    assert guard.get("api/state").status_code == 303  # sent to the login page
    assert login(client(guarded), "guard1", PASSWORDS["guard1"]).headers["location"] \
        == "/login?error=login_failed"
    assert chief.get("api/state").status_code == 200  # the others work on

    operator("enable", "guard1")
    guard = signed_in(guarded, "guard1")
    assert guard.get("api/state").status_code == 200
    secret = tmp_path / "new.password"
    secret.write_text("a-new-guard-password")
    csrf = {"x-csrf-token": boot_of(guard)["csrf"]}
    operator("passwd", "guard1", "--password-file", str(secret))
    assert guard.get("api/state").status_code == 200  # the board stays open (duty session)
    alarm_id = guard.get("api/state").json()["alarms"][0]["alarm_id"]
    acting = guard.post("api/command/alarm.acknowledge", headers=csrf,
                        json={"args": {"alarm_id": alarm_id}})
    assert acting.status_code == 401 and acting.json()["error"]["code"] == "reauth"
    assert acting.json()["error"]["reason"] == "password"
    old = guard.post("api/reauth", headers=csrf, json={"password": PASSWORDS["guard1"]})
    assert old.status_code == 401 and old.json()["error"]["code"] == "login_failed"
    assert guard.post("api/reauth", json={"password": "a-new-guard-password"}).status_code \
        == 403  # without the CSRF token
    assert guard.post("api/reauth", headers=csrf,
                      json={"password": "a-new-guard-password"}).status_code == 200
    assert guard.post("api/command/alarm.acknowledge", headers=csrf,
                      json={"args": {"alarm_id": alarm_id}}).status_code == 200
    assert login(client(guarded), "guard1", "a-new-guard-password").headers["location"] == "/"
    assert chief.get("api/state").status_code == 200


def test_a_guard_drives_outputs_but_only_a_supervisor_sets_gate_modes_and_keys(
        guarded: Console) -> None:
    guard = signed_in(guarded, "guard1")
    headers = {"x-csrf-token": boot_of(guard)["csrf"]}

    def act(web: httpx.Client, action: str, headers: dict[str, str],
            **args: Any) -> httpx.Response:
        return web.post("api/command/device.action", headers=headers, json={
            "args": {"device": "io-1", "action": action, "args": args}})

    assert act(guard, "output", headers, name="door", on=True).status_code == 200
    assert guarded.sims.coil("io-1", "door") is True
    for action in ("gate_mode", "install_key", "clock-sync", "a-new-action"):
        refused = act(guard, action, headers, gate="main", mode="free")
        assert refused.status_code == 403, refused.text
        message = refused.json()["error"]["message"]
        assert "needs supervisor" in message and action in message
    denied = guarded.subscriber.wait_event("audit.command", count=4, outcome="denied",
                                           command="device.action")
    assert {d["data"]["args"]["action"] for d in denied} == {
        "gate_mode", "install_key", "clock-sync", "a-new-action"}

    chief = signed_in(guarded, "chief")
    chief_headers = {"x-csrf-token": boot_of(chief)["csrf"]}
    by_chief = act(chief, "gate_mode", chief_headers, gate="main", mode="free")
    assert by_chief.status_code == 409  # allowed; the I/O module has no such action
    assert "unknown action 'gate_mode'" in by_chief.json()["error"]["message"]

    # the same table holds for requests over MQTT
    over_mqtt = cli(guarded.site, "device", "act", "io-1", "gate_mode", "gate=main")
    assert over_mqtt.returncode != 0 and "needs supervisor" in over_mqtt.stdout + \
        over_mqtt.stderr
    by_chief_mqtt = cli(guarded.site, "device", "act", "io-1", "output", "name=siren",
                        "on=true", operator="chief", token=CHIEF_TOKEN)
    assert by_chief_mqtt.returncode == 0, by_chief_mqtt.stderr


def test_an_operator_named_like_markup_cannot_break_the_page(guarded: Console,
                                                             browser: Browser) -> None:
    name = '</script><script>alert("x")</script><!--&'
    secret = guarded.site.parent / "odd.password"
    secret.write_text("odd-password-123")
    subprocess.run([sys.executable, "-m", "gateway.cli", "operator", "add", name, "--role",
                    "guard", "-c", str(guarded.site), "--password-file", str(secret)],
                   check=True, capture_output=True)
    web = client(guarded)
    assert login(web, name, "odd-password-123").headers["location"] == "/"
    html = web.get("").text
    assert "\\u003c/script\\u003e" in html and '</script><script>alert' not in html

    page = browser.new_context(locale="en").new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(guarded.url + "login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", "odd-password-123")
    page.click("button[type=submit]")
    page.wait_for_url(guarded.url)
    assert page.evaluate("JSON.parse(document.getElementById('boot').textContent).operator") \
        == name
    expect(page.locator("#duty")).to_have_text("Start duty")  # the page script runs
    assert not dialogs


def test_the_devices_page_shows_every_part_of_the_gateway_and_its_state(
        guarded: Console) -> None:
    web = signed_in(guarded, "guard1")
    page = web.get("devices")
    assert page.status_code == 200
    rows = page.text.split('id="parts"')[1]
    for part in ("outbox", "mqtt", "console", "alarm clock", "command worker 0", "driver io-0"):
        assert f'data-part="{part}"' in rows, part
    assert "运行中" in rows  # the console speaks the guard's language (zh-CN here)
