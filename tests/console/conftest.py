"""The console in a real browser: Debian's Chromium driven by Playwright, against the gateway as
its own process, simulators on real sockets and a real mosquitto."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import Mosquitto, Subscriber, free_port
from tests.rig import GatewayProcess, SimulatorThread, site_file

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
                 if Path(p).exists()), None)
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORDS = {"guard1": "guard-password-1", "chief": "chief-password-1",
             "viewer1": "viewer-password-1"}
ROLES = {"guard1": "guard", "chief": "supervisor", "viewer1": "viewer"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # module-scoped: Playwright's sync API keeps an event loop running in this thread, which
    # the asyncio.run of other tests must not meet
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run the README's test command (make test)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-gpu"])
        yield instance
        instance.close()


@dataclass
class Console:
    url: str
    site: Path
    sims: SimulatorThread
    gateway: GatewayProcess
    subscriber: Subscriber

    def login(self, browser: Browser, name: str, language: str = "zh-CN") -> Page:
        context: BrowserContext = browser.new_context(locale=language,
                                                      viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(self.url + "login")
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", PASSWORDS[name])
        page.click("button[type=submit]")
        page.wait_for_url(self.url)
        return page


def console_site(tmp_path: Path, broker: str, modules: int = 2, extra: dict[str, Any] | None = None,
                 console: dict[str, Any] | None = None, **alarms: Any) -> tuple[Path, str]:
    port = free_port()
    site = site_file(tmp_path, broker, modules=modules, alarms=alarms or None, extra={
        **(extra or {}), "console": {**(console or {}),
                                     "listen": {"host": "127.0.0.1", "port": port}, "map": {
            "image": str(ROOT / "config" / "maps" / "demo-campus.svg"),
            "markers": [{"device": "io-0", "point": "btn-a", "x": 36, "y": 86,
                         "label": "Guard booth"},
                        {"device": "io-1", "x": 58, "y": 46, "label": "Main F2"}]
            if modules >= 2 else []}}})
    for name, role in ROLES.items():
        secret = tmp_path / f"{name}.password"
        secret.write_text(PASSWORDS[name])
        subprocess.run([sys.executable, "-m", "gateway.cli", "operator", "add", name, "--role",
                        role, "-c", str(site), "--password-file", str(secret)], check=True,
                       capture_output=True)
    return site, f"http://127.0.0.1:{port}/"


@contextmanager
def running_console(site: Path, url: str, subscriber: Subscriber) -> Iterator[Console]:
    """The site's simulators and gateway, once both modules are online; the gateway's last
    output printed when they stop."""
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_event("device.online", count=2, timeout=20)
        yield Console(url, site, sims, gateway, subscriber)
    finally:
        gateway.stop()
        sims.stop()
        print(gateway.output()[-3000:])


@pytest.fixture
def console(tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber,
            request: pytest.FixtureRequest) -> Iterator[Console]:
    alarms = getattr(request, "param", {}) or {"first_report_within": "6s"}
    site, url = console_site(tmp_path, mosquitto.url, **alarms)
    with running_console(site, url, subscriber) as running:
        yield running


@pytest.fixture
def guarded(tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber,
            monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Console]:
    """A console whose gateway keeps its temporary files in a folder of the test's."""
    temp = tmp_path / "gateway-tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    site, url = console_site(tmp_path, mosquitto.url, console=getattr(request, "param", None))
    with running_console(site, url, subscriber) as running:
        yield running


def screenshot(page: Page, name: str) -> None:
    """Keep a picture of what the test saw (var/screenshots/, for the docs)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def document(name: str) -> None:
    """The picture ``name`` of var/screenshots/ copied into docs/console/, when asked for with
    CONSOLE_DOCS_PICTURES=1 (``make screenshots``): a test run leaves the docs alone."""
    if os.environ.get("CONSOLE_DOCS_PICTURES") == "1":
        shutil.copy(SCREENSHOTS / f"{name}.png", ROOT / "docs" / "console" / f"{name}.png")


def playing(page: Page) -> float:
    """The loudest sample the alarm sound gives over 300 ms, read through an AnalyserNode."""
    return float(page.evaluate("""async () => {
        const audio = document.getElementById('siren');
        if (!window.__analyser) {
            const ctx = new AudioContext();
            const source = ctx.createMediaElementSource(audio);
            const analyser = ctx.createAnalyser();
            analyser.fftSize = 2048;
            source.connect(analyser);
            analyser.connect(ctx.destination);
            window.__analyser = analyser;
            await ctx.resume();
        }
        const samples = new Float32Array(window.__analyser.fftSize);
        let loudest = 0;
        for (let i = 0; i < 6; i++) {
            await new Promise(r => setTimeout(r, 50));
            window.__analyser.getFloatTimeDomainData(samples);
            for (const s of samples) loudest = Math.max(loudest, Math.abs(s));
        }
        return audio.paused ? 0 : loudest;
    }"""))

