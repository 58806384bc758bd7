"""Video beside the alarm, in Debian's Chromium: the alarm's snapshot on its board card, the
camera's live view proxied by the gateway (frames that change, no session no picture, capped,
a slow viewer skipping frames, a viewer leaving freeing the camera), the alarm's clip playing in
a <video>, and the cameras page. One gateway, simulated camera and I/O module, and mosquitto for
the whole module: a panic press turns into a snapshot and a clip by linkage."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page

from tests.conftest import Mosquitto, Subscriber, free_port
from tests.console.conftest import Console, console_site, document, screenshot
from tests.rig import GUARD_TOKEN, GatewayProcess, SimulatorThread

CAMERA = "gate-cam"
PASSWORD_ENV = "CONSOLE_VIDEO_CAMERA_PASSWORD"
PER_CAMERA, TOTAL = 2, 3


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Console, str]]:
    """The console with one camera, and the id of an alarm that has its snapshot and clip."""
    tmp_path = tmp_path_factory.mktemp("video")
    broker = Mosquitto(tmp_path)
    broker.start()
    subscriber = Subscriber(broker.url)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv(PASSWORD_ENV, "gate-cam-console-secret")
    site, url = console_site(tmp_path, broker.url, modules=1, extra={
        "media": {"live": {"per_camera": PER_CAMERA, "total": TOTAL, "fps": 4}}})
    doc: dict[str, Any] = yaml.safe_load(site.read_text())  # the camera after the logins
    doc["linkage"] = [{"name": "gate-camera", "when": {"conditions": ["panic"]},
                       "do": [{"camera": CAMERA, "snapshot": True},
                              {"camera": CAMERA, "clip": {"pre": 2, "post": 2}}]}]
    doc["devices"].append({
        "id": CAMERA, "driver": "onvif", "name": "Main gate camera", "host": "127.0.0.1",
        "port": free_port(), "username": "gateway", "password": {"env": PASSWORD_ENV},
        "zone": "zone-0", "scene": "gate", "stream": {"transport": "mjpeg"},
        "ring": {"seconds": 5, "fps": 5}, "clip": {"pre": 2, "post": 2},
        "simulator": {"rtsp": False, "fps": 5, "resolution": "320x240"},
        "subscription": {"pull_timeout": 1, "backoff_initial": 0.2, "backoff_max": 1}})
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", device="io-0", timeout=30)
        subscriber.wait_event("device.online", device=CAMERA, timeout=30)
        sims.press("io-0", "btn-a")
        raised, = subscriber.wait_event("alarm.raised", timeout=10)
        alarm_id = raised["data"]["alarm"]["alarm_id"]
        subscriber.wait_event("camera.snapshot", timeout=15, alarm_id=alarm_id)
        subscriber.wait_event("camera.clip", timeout=30, alarm_id=alarm_id)
        yield Console(url, site, sims, gateway, subscriber), alarm_id
    finally:
        gateway.stop()
        sims.stop()
        subscriber.close()
        broker.stop()
        monkeypatch.undo()
        print(gateway.output()[-3000:])


FRAME_CHANGE = """async (selector) => {
    const img = document.querySelector(selector);
    const grab = () => {
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const g = canvas.getContext("2d");
        g.drawImage(img, 0, 0);
        return g.getImageData(0, 0, canvas.width, canvas.height).data;
    };
    const first = grab();
    await new Promise((r) => setTimeout(r, 1600));
    const second = grab();
    let changed = 0, lit = 0;
    for (let i = 0; i < first.length; i += 4) {
        if (first[i] !== second[i] || first[i + 1] !== second[i + 1]) changed++;
        if (second[i] + second[i + 1] + second[i + 2] > 60) lit++;
    }
    return { changed, lit, width: img.naturalWidth, height: img.naturalHeight };
}"""


def live_health(page: Page) -> dict[str, Any]:
    """The camera's health as the cameras page reads it, with this page's session."""
    origin = "/".join(page.url.split("/")[:3])
    answer = page.request.get(origin + "/api/video/cameras").json()
    camera: dict[str, Any] = next(c for c in answer["cameras"] if c["camera"] == CAMERA)
    return camera


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_the_card_shows_the_alarms_snapshot_and_a_live_view_that_moves(
        browser: Browser, video: tuple[Console, str]) -> None:
    console, alarm_id = video
    page = console.login(browser, "guard1")
    page.set_viewport_size({"width": 1366, "height": 768})
    card = page.locator(f"#alarm-{alarm_id}")
    snapshot = card.locator("img.snapshot")
    snapshot.wait_for(timeout=10_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=snapshot.element_handle(), timeout=10_000)
    media_id = snapshot.get_attribute("data-media")
    assert snapshot.get_attribute("src") == f"/media/{media_id}"
    assert "Main gate camera" in card.locator(".card-video figcaption").first.inner_text()
    # the live view: the gateway's MJPEG, no camera address in the page
    card.locator("button.live-toggle").click()
    live = card.locator("img.live")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=live.element_handle(), timeout=10_000)
    assert live.get_attribute("src").startswith(f"/video/live/{CAMERA}?")  # type: ignore[union-attr]
    console.sims.run(lambda: console.sims.campus.act(CAMERA, "walk", {"seconds": 4}))
    seen = page.evaluate(FRAME_CHANGE, f"#alarm-{alarm_id} img.live")
    assert seen["width"] == 320 and seen["height"] == 240
    assert seen["lit"] > 1000  # a picture, not a black frame
    assert seen["changed"] > 50  # the walker and the camera's clock moved between the two
    html = page.content()
    assert "gate-cam-console-secret" not in html and "/mjpeg" not in html \
        and "snapshot.jpg" not in html
    assert live_health(page)["live"]["viewers"] == 1
    screenshot(page, "alarm-video")
    document("alarm-video")
    # the card changes (acknowledged): its live view goes on, the same stream, not a new one
    page.evaluate("(img) => { window.__live = img; }", live.element_handle())
    assert page.evaluate("(id) => command('alarm.acknowledge', {alarm_id: id, note: 'seen'})"
                         ".then(r => r.status)", alarm_id) == "ok"
    card.locator("button.ack").wait_for(state="detached", timeout=10_000)
    assert page.evaluate(f"() => window.__live === document.querySelector("
                         f"'#alarm-{alarm_id} img.live')")
    console.sims.run(lambda: console.sims.campus.act(CAMERA, "walk", {"seconds": 4}))
    assert page.evaluate(FRAME_CHANGE, f"#alarm-{alarm_id} img.live")["changed"] > 50
    assert live_health(page)["live"]["viewers"] == 1
    # hiding it lets the camera go: no viewer, no upstream
    card.locator("button.live-toggle").click()
    assert wait_for(lambda: live_health(page)["live"] == {
        **live_health(page)["live"], "viewers": 0, "upstream": False})
    page.context.close()


def test_a_new_alarms_snapshot_reaches_its_card_on_an_open_board(
        browser: Browser, video: tuple[Console, str]) -> None:
    console, first_alarm = video
    page = console.login(browser, "guard1", "en")
    page.locator(f"#alarm-{first_alarm} img.snapshot").wait_for(timeout=10_000)
    console.sims.press("io-0", "btn-b")  # linkage takes its snapshot after the card is drawn
    raised = console.subscriber.wait_event("alarm.raised", count=2, timeout=10)
    alarm_id = next(e["data"]["alarm"]["alarm_id"] for e in raised
                    if e["data"]["alarm"]["alarm_id"] != first_alarm)
    shot, = console.subscriber.wait_event("camera.snapshot", timeout=15, alarm_id=alarm_id)
    picture = page.locator(f"#alarm-{alarm_id} img.snapshot")
    picture.wait_for(timeout=10_000)
    assert picture.get_attribute("data-media") == shot["data"]["media_id"]
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=picture.element_handle(), timeout=10_000)
    # its live view open, the alarm is closed: the card goes, and its live view lets go
    page.locator(f"#alarm-{alarm_id} button.live-toggle").click()
    page.locator(f"#alarm-{alarm_id} img.live").wait_for(timeout=10_000)
    assert wait_for(lambda: live_health(page)["live"]["viewers"] == 1), live_health(page)
    console.sims.release("io-0", "btn-b")
    for name, args in (("alarm.acknowledge", {"alarm_id": alarm_id, "note": "seen"}),
                       ("alarm.reset", {"alarm_id": alarm_id, "note": "checked, nobody"})):
        assert wait_for(lambda n=name, a=args: page.evaluate(
            "([n, a]) => command(n, a).then(r => r.status === 'ok')", [n, a]))
    page.locator(f"#alarm-{alarm_id}").wait_for(state="detached", timeout=10_000)
    assert wait_for(lambda: live_health(page)["live"]["viewers"] == 0), live_health(page)
    page.context.close()


def test_a_live_view_needs_a_session_or_an_operator_token(
        browser: Browser, video: tuple[Console, str]) -> None:
    console, _ = video
    url = f"{console.url}video/live/{CAMERA}"
    context = browser.new_context()
    answer = context.new_page().goto(url)
    assert answer is not None and answer.status == 401
    context.close()
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer not-a-token"},
                     timeout=5).status_code == 401
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {GUARD_TOKEN}"},
                      timeout=10) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
        first = b""
        for chunk in stream.iter_bytes():
            first += chunk
            if b"\xff\xd9" in first:
                break
        assert first.startswith(b"--campus-live\r\nContent-Type: image/jpeg\r\n")
        assert b"\xff\xd8" in first
    assert httpx.get(f"{console.url}video/live/no-such-cam",
                     headers={"Authorization": f"Bearer {GUARD_TOKEN}"},
                     timeout=5).status_code == 404


def test_live_views_are_capped_a_slow_viewer_skips_frames_and_leaving_frees_the_camera(
        browser: Browser, video: tuple[Console, str]) -> None:
    console, _ = video
    page = console.login(browser, "viewer1", "en")
    host, port = console.url.removeprefix("http://").rstrip("/").split(":")
    request = (f"GET /video/live/{CAMERA} HTTP/1.1\r\nHost: {host}\r\n"
               f"Authorization: Bearer {GUARD_TOKEN}\r\n\r\n").encode()
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a browser that reads nothing
    slow.connect((host, int(port)))
    slow.sendall(request)
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {GUARD_TOKEN}"},
                          timeout=10) as client, \
                client.stream("GET", f"{console.url}video/live/{CAMERA}") as second:
            assert second.status_code == 200
            refused = client.get(f"{console.url}video/live/{CAMERA}")
            assert refused.status_code == 503
            assert "already has 2 live viewers (media.live.per_camera)" in refused.text
            assert refused.headers["retry-after"] == "5"
            # the slow one holds one frame at a time and drops the rest: nothing piles up
            health = wait_for(lambda: (lambda h: h if h["live"]["dropped"] >= 8 else None)(
                live_health(page)), timeout=20)
            assert health, live_health(page)["live"]
            assert health["live"]["viewers"] == 2 and health["live"]["upstream"]
    finally:
        slow.close()
    # both gone: the gateway stops asking the camera
    assert wait_for(lambda: live_health(page)["live"]["viewers"] == 0), live_health(page)
    assert not live_health(page)["live"]["upstream"]
    page.context.close()


def test_the_alarms_clip_plays_in_the_browser(browser: Browser,
                                              video: tuple[Console, str]) -> None:
    console, alarm_id = video
    page = console.login(browser, "guard1", "en")
    page.goto(f"{console.url}alarms/{alarm_id}")
    clip = page.locator("figure.clip video")
    clip.wait_for(timeout=10_000)
    # VP8 WebM: Debian's Chromium decodes it (it has no H.264)
    page.wait_for_function("v => v.readyState >= 2", arg=clip.element_handle(), timeout=10_000)
    played = page.evaluate("""async (v) => {
        v.muted = true;
        await v.play();
        const start = v.currentTime;
        await new Promise((r) => setTimeout(r, 1200));
        return { start, now: v.currentTime, duration: v.duration, width: v.videoWidth };
    }""", clip.element_handle())
    assert played["now"] > played["start"]
    assert played["width"] == 320 and played["duration"] >= 1.5
    # the alarm page also shows its camera live
    page.wait_for_function("() => { const i = document.querySelector('#alarm-live img.live');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=10_000)
    page.context.close()


def test_the_cameras_page_shows_each_cameras_health_and_live_view(
        browser: Browser, video: tuple[Console, str]) -> None:
    console, _ = video
    for language, words in (("zh-CN", ("正常", "摘要认证", "事件拉取", "正常", "无")),
                            ("en", ("working", "Digest", "event pulls", "running", "nothing"))):
        page = console.login(browser, "viewer1", language)
        page.set_viewport_size({"width": 1366, "height": 768})
        page.click("nav a[href='/cameras']")
        tile = page.locator(f".camera-tile[data-camera='{CAMERA}']")
        state, auth, keepalive, stream, unavailable = words
        assert tile.locator("[data-field=unavailable]").inner_text() == unavailable
        assert tile.locator("[data-field=state]").inner_text() == state
        assert tile.locator("[data-field=snapshot_auth]").inner_text() == auth
        assert tile.locator("[data-field=keepalive]").inner_text() == keepalive
        assert tile.locator("[data-field=stream]").inner_text() == stream
        page.wait_for_function("() => { const i = document.querySelector('.camera-tile img.live');"
                               " return i && i.complete && i.naturalWidth > 0; }",
                               timeout=10_000)
        # the watching count comes back live with the page's own viewer in it
        tile.locator("[data-field=watching]").filter(has_text="1").wait_for(timeout=10_000)
        # the header holds one row at 1366 px, with the cameras link in it
        header = page.locator("header.top").bounding_box()
        assert header is not None and header["height"] < 120
        screenshot(page, f"cameras-{language}")
        page.context.close()


def test_a_stopping_gateway_ends_its_live_views_at_once(video: tuple[Console, str]) -> None:
    # last in the module: it stops the gateway
    console, _ = video
    with httpx.stream("GET", f"{console.url}video/live/{CAMERA}",
                      headers={"Authorization": f"Bearer {GUARD_TOKEN}"}, timeout=10) as stream:
        chunks = stream.iter_bytes()
        assert b"--campus-live" in next(chunks)
        console.gateway.stop()
        for _ in chunks:  # the stream ends; it is not left for the server to cancel
            pass
    output = console.gateway.output()
    assert "graceful shutdown exceeded" not in output and "Exception in ASGI" not in output
