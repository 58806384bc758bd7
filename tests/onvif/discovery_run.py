"""Run inside a private network namespace (``unshare -n``) by test_discovery: loopback set up
for multicast, two simulated cameras with discovery on at extra /32 addresses, then
``campus-gateway discover`` as a process; prints its output as JSON. Refuses to run where it is
not alone with ``lo``, so it never multicasts on a real link."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.onvif_sim.discovery_probe import alone_in_a_namespace, set_up_loopback

LOBBY = "10.203.0.1"
YARD = "10.203.0.2"
PASSWORD = "discover-secret"


def stanza(camera_id: str, name: str, host: str, zone: str) -> dict[str, Any]:
    return {"id": camera_id, "driver": "onvif", "name": name, "host": host, "port": 18080,
            "username": "admin", "password": {"env": "ONVIF_DISCOVERY_PASSWORD"}, "zone": zone,
            "presets": ["door", "hall"] if zone == "lobby" else [],
            "simulator": {"discovery": True}}


async def main() -> dict[str, Any]:
    from simulators.onvif import OnvifCameraSimulators

    os.environ["ONVIF_DISCOVERY_PASSWORD"] = PASSWORD
    family = OnvifCameraSimulators([stanza("lobby-cam", "Lobby Door", LOBBY, "lobby"),
                                    stanza("yard-cam", "Yard", YARD, "yard")], rtsp=False)
    await family.start()
    secret = Path(tempfile.mkdtemp()) / "camera.password"
    secret.write_text(PASSWORD + "\n")
    try:
        results: dict[str, Any] = {"password_file": str(secret)}
        for name, extra in (("anonymous", []),
                            ("with_credentials", ["--username", "admin", "--password-file",
                                                  str(secret)])):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.cli", "discover", "--timeout", "1.5", *extra,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await process.communicate()
            results[name] = {"code": process.returncode, "out": out.decode(),
                             "err": err.decode()[-2000:]}
        return results
    finally:
        await family.stop()


if __name__ == "__main__":
    if not alone_in_a_namespace():
        sys.exit("refusing to multicast: not in a private network namespace")
    set_up_loopback()
    print(json.dumps(asyncio.run(main())))
