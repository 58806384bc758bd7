"""`campus-gateway doctor`: what an installer checks before leaving a site.

The site file, the state dir (writable, private, room on its disk), the broker (reachable with
the site's credentials and TLS, allowed to take the gateway's command subscription), every
device (a Modbus TCP module answers a connection, a serial port is there and usable, a listen
address is free), and whether anyone can log in or send commands. Each check is one line:
``ok``, ``warn`` or ``FAIL`` with the reason; the exit code is 1 if anything failed.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway import remote
from gateway.config import SiteConfig
from gateway.console.operators import ConsoleOperators
from gateway.kernel.fields import ConfigError, secrets_in
from gateway.topics import Topics

MIN_FREE = 20 * 1024 * 1024
LOW_FREE = 200 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    status: str  # ok, warn, FAIL
    what: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.status:4} {self.what}" + (f": {self.detail}" if self.detail else "")


def examine(site: SiteConfig) -> Iterator[Finding]:
    yield Finding("ok", "site file", f"site {site.site.id}, {len(site.devices)} devices")
    yield from _state_dir(site.gateway.state_dir)
    yield from _broker(site)
    for device in site.devices:
        yield from _device(device)
    if site.console.enabled:
        yield from _free_to_listen("console", site.console.listen.host, site.console.listen.port)
        logins = [o for o in ConsoleOperators(site.gateway.state_dir / "operators.sqlite3").list()
                  if not o.disabled] if site.gateway.state_dir.exists() else []
        yield (Finding("ok", "console logins", f"{len(logins)} operators") if logins else
               Finding("warn", "console logins", "nobody can log in: campus-gateway operator "
                       "add NAME --role guard -c SITE"))
    if site.metrics.enabled:
        yield from _free_to_listen("metrics", site.metrics.listen.host, site.metrics.listen.port)
    if site.alarm_centre is not None:  # the second alarm path: a test message to each receiver
        from gateway.alarm_centre.check import examine as examine_centre
        yield from (Finding(*found) for found in examine_centre(site.alarm_centre))
    yield (Finding("ok", "command operators", f"{len(site.operators)} with tokens")
           if site.operators else
           Finding("warn", "command operators", "no operator tokens: nobody can send commands "
                   "over MQTT (campus-gateway operator-token)"))


def _state_dir(path: Path) -> Iterator[Finding]:
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        writable = os.access(parent, os.W_OK)
        yield Finding("ok" if writable else "FAIL", f"state dir {path}",
                      "does not exist yet; the gateway makes it" if writable else
                      f"does not exist, and {parent} cannot be written")
        return
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        yield Finding("FAIL", f"state dir {path}", "not a writable directory")
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    yield (Finding("ok", f"state dir {path}", "writable, mode 700") if mode == 0o700 else
           Finding("warn", f"state dir {path}", f"mode {mode:o}: the gateway narrows it to 700"))
    free = shutil.disk_usage(path).free
    status = "FAIL" if free < MIN_FREE else "warn" if free < LOW_FREE else "ok"
    yield Finding(status, "disk of the state dir", f"{free / 1024 / 1024:,.0f} MiB free")


def _broker(site: SiteConfig) -> Iterator[Finding]:
    """Each broker URL (each node of a cluster): the gateway may have to move to any of them."""
    for url in site.mqtt.urls:
        yield from _broker_node(site, url)


def _broker_node(site: SiteConfig, url: str) -> Iterator[Finding]:
    try:
        client = remote.connect(url, site=site.mqtt, timeout=5)
    except ConnectionError as exc:
        yield Finding("FAIL", f"broker {url}", str(exc))
        return
    topics = Topics(site.mqtt.prefix, site.site.id, site.gateway.id)
    granted = threading.Event()
    codes: list[int] = []

    def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, reasons: list[ReasonCode],
                     _p: Properties) -> None:
        codes.extend(int(r.value) for r in reasons)
        granted.set()

    client.on_subscribe = on_subscribe
    client.subscribe(topics.requests, qos=1)
    answered = granted.wait(5)
    client.disconnect()
    client.loop_stop()
    if not answered:
        yield Finding("FAIL", f"broker {url}", "connected, but no answer to a subscription")
    elif any(code >= 0x80 for code in codes):
        yield Finding("FAIL", f"broker {url}", f"connected, but it refuses the subscription to "
                      f"{topics.requests} (check the broker's ACL)")
    else:
        yield Finding("ok", f"broker {url}", "connected and subscribed with the site's "
                      "credentials")


def _device(device: object) -> Iterator[Finding]:
    device_id = getattr(device, "id", "?")
    driver = getattr(device, "driver", "")
    tcp = getattr(device, "tcp", None)
    serial = getattr(device, "rtu", None) or getattr(device, "serial", None)
    listen = getattr(device, "listen", None)
    for secret in secrets_in(device):  # readers' keys, controllers' and cameras' passwords
        try:
            secret.read()
        except ConfigError as exc:
            yield Finding("FAIL", f"device {device_id}", f"a secret cannot be read: {exc}")
    if driver == "onvif":  # a camera: its device service takes connections
        tcp = device
    if tcp is not None:
        where = f"{driver} tcp {tcp.host}:{tcp.port}"
        try:
            with socket.create_connection((tcp.host, tcp.port), timeout=2):
                pass
            yield Finding("ok", f"device {device_id}", f"{where} takes connections")
        except OSError as exc:
            yield Finding("FAIL", f"device {device_id}", f"{where}: {exc.strerror or exc}")
    elif serial is not None:
        port = Path(serial.port)
        if not port.exists():
            yield Finding("FAIL", f"device {device_id}", f"serial port {port} does not exist")
        elif not os.access(port, os.R_OK | os.W_OK):
            yield Finding("FAIL", f"device {device_id}", f"serial port {port} cannot be opened "
                          "by this user (the dialout group?)")
        else:
            yield Finding("ok", f"device {device_id}", f"serial port {port} is there")
    elif listen is not None:
        yield from _free_to_listen(f"device {device_id}", listen.host, listen.port)


def listen_refused(host: str, port: int) -> OSError | None:
    """Why host:port cannot be listened on, or None if it is free. As the servers do: a port
    left in TIME_WAIT is free, a listener is not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def _free_to_listen(what: str, host: str, port: int) -> Iterator[Finding]:
    if (refused := listen_refused(host, port)) is not None:
        yield Finding("warn", what, f"cannot listen on {host}:{port} ({refused.strerror}): "
                      "in use, perhaps by the running gateway")
        return
    yield Finding("ok", what, f"{host}:{port} is free to listen on")
