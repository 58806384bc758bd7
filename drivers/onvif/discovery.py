"""Finding cameras: a WS-Discovery probe for ONVIF NetworkVideoTransmitters on the local link,
then (with credentials) each camera's model, profiles and stream URIs, written out as site-file
stanzas ready to paste (``campus-gateway discover``).

WS-Discovery multicasts on 239.255.255.250:3702 from every interface of the machine; run it on
the camera LAN. The WSDiscovery package ignores loopback addresses, so a camera on 127.0.0.1 is
not found (give the device's address to the stanza by hand).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from drivers.onvif.link import CameraLink, CameraProblem
from drivers.onvif.models import OnvifCameraConfig
from drivers.video import redact
from gateway.kernel.boundary import device_text
from gateway.kernel.fields import Secret

NVT = ("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
SCOPE = "onvif://www.onvif.org/"


@dataclass(frozen=True)
class Found:
    """One probe match: where its device service is, and what its scopes say."""

    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]
    endpoint: str

    def scope(self, kind: str) -> str | None:
        """A scope's value, capped and escaped: it is the camera's word, printed and kept."""
        prefix = f"{SCOPE}{kind}/"
        value = next((unquote(s[len(prefix):]) for s in self.scopes if s.startswith(prefix)),
                     None)
        return device_text(value, 64) if value is not None else None

    @property
    def address(self) -> tuple[str, int] | None:
        for xaddr in self.xaddrs:
            parts = urlsplit(xaddr)
            if parts.scheme in ("http", "https") and parts.hostname:
                return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        return None


def probe(timeout: float) -> list[Found]:
    """Probe for NetworkVideoTransmitters for ``timeout`` seconds (blocking: a thread)."""
    from wsdiscovery import QName
    from wsdiscovery.discovery import ThreadedWSDiscovery

    client = ThreadedWSDiscovery()
    client.start()
    try:
        services = client.searchServices(types=[QName(*NVT)], timeout=timeout)
        found = [Found(tuple(s.getXAddrs()), tuple(x.getValue() for x in s.getScopes()),
                       str(s.getEPR())) for s in services]
    finally:
        client.stop()
    return sorted(found, key=lambda f: f.xaddrs)


def _identifier(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
    return slug or fallback


async def describe(found: Found, username: str | None, password: str | None,
                   password_file: Path | None, taken: set[str],
                   timeout: float = 5.0) -> tuple[dict[str, Any], list[str]]:
    """A stanza for one camera, and comment lines (model, profiles, URIs, or why unread)."""
    address = found.address
    assert address is not None
    host, port = address
    name = found.scope("name") or host
    camera_id = _identifier(name, "camera")
    base, n = camera_id, 2
    while camera_id in taken:
        camera_id, n = f"{base}-{n}", n + 1
    taken.add(camera_id)
    secret: dict[str, str] = ({"file": str(password_file)} if password_file is not None else
                              {"env": f"{camera_id.upper().replace('-', '_')}_PASSWORD"})
    stanza: dict[str, Any] = {"id": camera_id, "driver": "onvif", "name": name, "host": host,
                              "port": port, "username": username or "admin",
                              "password": secret}
    location = found.scope("location")
    if location:
        stanza["zone"] = _identifier(location, "zone")
    notes = [f"found at {device_text(', '.join(found.xaddrs))}"]
    hardware = found.scope("hardware")
    if hardware:
        notes.append(f"hardware: {hardware}")
    if username is None or password is None:
        notes.append("give --username and --password-file to read its profiles")
        return stanza, notes
    config = OnvifCameraConfig(driver="onvif", id=camera_id, host=host, port=port,
                               username=username, password=Secret(env="UNUSED"),
                               request_timeout=timeout)
    link = CameraLink(config, password)
    try:
        facts = await link.open()
        uris = await link.stream_uris()
    except CameraProblem as problem:
        notes.append(f"not read: {problem.state}: {problem.reason}")
        return stanza, notes
    finally:
        await link.close()
    notes.append(f"{facts.manufacturer} {facts.model}, firmware {facts.firmware}, serial "
                 f"{facts.serial}, clock skew {facts.skew:+.0f} s")
    for profile in facts.profiles:
        size = f"{profile.width}x{profile.height}" if profile.width else "?"
        uri = uris.get(profile.token)
        stream = device_text(redact(uri)) if uri else "-"
        notes.append(f"profile {device_text(profile.token, 64)} ({profile.name}): "
                     f"{profile.encoding} {size}{', PTZ' if profile.ptz else ''}; "
                     f"stream {stream}")
    if facts.presets:
        stanza["presets"] = sorted(facts.presets)
    stanza["stream"] = {"profile": facts.stream_profile}
    if not facts.snapshot_uri:
        notes.append("no snapshot URI: snapshots are taken from the stream")
    return stanza, notes


async def discover(timeout: float, username: str | None = None, password: str | None = None,
                   password_file: Path | None = None) -> str:
    """The probe's cameras as a ``devices:`` YAML list with comments."""
    found = [f for f in await asyncio.to_thread(probe, timeout) if f.address is not None]
    if not found:
        return "# no ONVIF camera answered the probe\n"
    taken: set[str] = set()
    described = await asyncio.gather(*(describe(f, username, password, password_file, taken)
                                       for f in found))
    lines = [f"# {len(found)} camera(s) answered; check ids, zones and streams before use",
             "devices:"]
    for stanza, notes in described:
        lines += [f"  # {note}" for note in notes]
        text = yaml.safe_dump([stanza], sort_keys=False, allow_unicode=True, width=100)
        lines += [f"  {line}" for line in text.rstrip().splitlines()]
    return "\n".join(lines) + "\n"
