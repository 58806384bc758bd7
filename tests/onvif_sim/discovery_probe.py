"""Run inside a private network namespace (``unshare -n``) by test_discovery: set up loopback
for multicast, start two cameras on extra /32 addresses (one with discovery on in its stanza,
one without), probe with the WSDiscovery package, print what each probe found as JSON.
It refuses to run where it is not alone with ``lo``, so it never multicasts on a real link."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from typing import Any

LOBBY = "10.203.0.1"
YARD = "10.203.0.2"
DN = "http://www.onvif.org/ver10/network/wsdl"


def alone_in_a_namespace() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def set_up_loopback() -> None:
    for command in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "set", "lo", "multicast", "on"],
                    ["ip", "addr", "add", f"{LOBBY}/32", "dev", "lo"],
                    ["ip", "addr", "add", f"{YARD}/32", "dev", "lo"],
                    ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"]):
        subprocess.run(command, check=True)


def probe(client: Any, scopes: list[str]) -> list[dict[str, object]]:
    from wsdiscovery import QName, Scope

    client.clearRemoteServices()
    found = client.searchServices(types=[QName(DN, "NetworkVideoTransmitter", "dn")],
                                  scopes=[Scope(s) for s in scopes] or None, timeout=1.0)
    return sorted(({"xaddrs": list(s.getXAddrs()), "epr": s.getEPR(),
                    "scopes": [x.getValue() for x in s.getScopes()],
                    "types": [t.getLocalname() for t in s.getTypes()]} for s in found),
                  key=lambda s: str(s["xaddrs"]))


def stanza(camera_id: str, name: str, host: str, discovery: bool | None) -> dict[str, Any]:
    section: dict[str, Any] = {
        "id": camera_id, "driver": "onvif", "name": name, "host": host, "port": 18080,
        "username": "admin", "password": {"env": "ONVIF_SIM_TEST_PASSWORD"},
        "zone": camera_id.removesuffix("-cam")}
    if discovery is not None:
        section["simulator"] = {"discovery": discovery}
    return section


async def main() -> dict[str, Any]:
    from wsdiscovery.discovery import ThreadedWSDiscovery

    from simulators.onvif import OnvifCameraSimulators

    os.environ["ONVIF_SIM_TEST_PASSWORD"] = "x"
    family = OnvifCameraSimulators([stanza("lobby-cam", "Lobby", LOBBY, True),
                                    stanza("yard-cam", "Yard", YARD, None)], rtsp=False)
    await family.start()
    lobby, yard = family.devices
    client = ThreadedWSDiscovery()
    client.start()
    results: dict[str, Any] = {}
    try:
        async def search(name: str, *scopes: str) -> None:
            results[name] = await asyncio.to_thread(probe, client, list(scopes))

        await search("site_on")
        await yard.act("discovery", {"on": True})
        await search("both_on")
        await search("lobby_scope", "onvif://www.onvif.org/location/lobby")
        await search("no_such_scope", "onvif://www.onvif.org/location/elsewhere")
        await lobby.act("discovery", {"on": False})
        await search("lobby_off")
        results["lobby_state"] = (await lobby.state())["discovery"]
        results["yard_state"] = (await yard.state())["discovery"]
        return results
    finally:
        client.stop()
        await family.stop()


if __name__ == "__main__":
    if not alone_in_a_namespace():
        sys.exit("refusing to multicast: not in a private network namespace")
    set_up_loopback()
    print(json.dumps(asyncio.run(main())))
