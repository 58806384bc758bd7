"""Reboot, offline/online, PTZ presets, the picture and the control-side state."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import aiohttp
import cv2
import httpx
import numpy as np
import pytest
import zeep.exceptions

from simulators.onvif import SimulatedCamera
from simulators.simulator import InvalidArguments, SimulatorError, UnknownAction, UnknownPoint
from tests.onvif_sim.support import (
    PASSWORD,
    USER,
    client,
    pull,
    run,
    security_header,
    simulated,
    soap,
    wait_for,
)


async def picture(camera: SimulatedCamera) -> np.ndarray:
    async with httpx.AsyncClient() as http:
        answer = await http.get(camera.snapshot_url("Profile_1"),
                                auth=httpx.DigestAuth(USER, PASSWORD))
    assert answer.status_code == 200
    frame = cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None
    return np.asarray(frame)


def sharpness(frame: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_reboot_drops_subscriptions_and_comes_back() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            manager = await onvif.create_pullpoint_manager(dt.timedelta(minutes=10),
                                                           lambda: None)
            service = manager.get_service()
            await pull(service, seconds=0.3)
            await camera.act("stuck-motion", {})
            await camera.act("reboot", {"seconds": 0.5})
            state = await camera.state()
            assert state["online"] is False and state["rebooting"] is True
            assert state["events"]["subscriptions"] == []
            with pytest.raises(SimulatorError, match="rebooting"):
                await camera.act("goto-preset", {"preset": "street"})
            with pytest.raises(httpx.ConnectError):
                await soap(camera, "<tds:GetSystemDateAndTime/>")
            await wait_for(lambda: camera.online)
            assert (await camera.state())["boots"] == 2
            with pytest.raises(zeep.exceptions.Fault, match="unknown subscription"):
                await pull(service, seconds=0.2)
            assert camera.stuck_motion is False  # a reboot clears the firmware's stuck state
            await manager.stop()

    run(scenario())


def test_offline_refuse_keeps_subscriptions_and_silent_never_answers() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            manager = await onvif.create_pullpoint_manager(dt.timedelta(minutes=10),
                                                           lambda: None)
            service = manager.get_service()
            await pull(service, seconds=0.3)
            await camera.act("offline", {})
            with pytest.raises(httpx.ConnectError):
                await soap(camera, "<tds:GetSystemDateAndTime/>")
            await camera.act("input", {"on": True})  # the camera runs on, off the network
            await camera.act("online", {})
            messages = await pull(service, seconds=1)
            assert [m.Topic._value_1 for m in messages] == ["tns1:Device/Trigger/DigitalInput"]

            await camera.act("offline", {"mode": "silent"})
            async with httpx.AsyncClient(timeout=0.5) as http:
                with pytest.raises(httpx.ReadTimeout):
                    await http.post(f"{camera.base_url}/onvif/device_service", content=b"x")
            assert (await camera.state())["offline_mode"] == "silent"
            await camera.act("online", {})
            answer = await soap(camera, "<tds:GetSystemDateAndTime/>")
            assert answer.status_code == 200
            await manager.stop()

    run(scenario())


def test_system_reboot_over_onvif() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            device = await onvif.create_devicemgmt_service()
            assert "Rebooting" in await device.SystemReboot()
            await wait_for(lambda: camera.boots == 2 and camera.online)

    run(scenario())


def test_presets_turn_the_camera_and_the_picture() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            ptz = await onvif.create_ptz_service()
            presets = await ptz.GetPresets({"ProfileToken": "Profile_1"})
            assert [(p.token, p.Name) for p in presets] == [("1", "gate"), ("2", "street")]
            at_gate = await picture(camera)
            await ptz.GotoPreset({"ProfileToken": "Profile_1", "PresetToken": "2",
                                  "Speed": {"PanTilt": {"x": 1.0, "y": 1.0}}})
            status = await ptz.GetStatus({"ProfileToken": "Profile_1"})
            assert status.MoveStatus.PanTilt == "MOVING"

            async def idle() -> bool:
                status = await ptz.GetStatus({"ProfileToken": "Profile_1"})
                return bool(status.MoveStatus.PanTilt == "IDLE")

            while not await idle():
                await asyncio.sleep(0.05)
            status = await ptz.GetStatus({"ProfileToken": "Profile_1"})
            assert status.Position.PanTilt.x == presets[1].PTZPosition.PanTilt.x
            assert (await camera.state())["preset"] == "street"
            at_street = await picture(camera)
            assert float(np.abs(at_gate.astype(int) - at_street.astype(int)).mean()) > 10
            with pytest.raises(zeep.exceptions.Fault, match="no preset"):
                await ptz.GotoPreset({"ProfileToken": "Profile_1", "PresetToken": "9"})
            await camera.act("goto-preset", {"preset": "gate"})
            assert (await camera.state())["preset"] == "gate"

    run(scenario())


def test_picture_follows_the_lens() -> None:
    async def scenario() -> None:
        async with simulated(scene="field", presets=[]) as camera:
            clear = await picture(camera)
            await camera.act("cover", {})
            assert float((await picture(camera)).mean()) < 30 < float(clear.mean())
            await camera.act("uncover", {})
            await camera.act("blind", {})
            assert float((await picture(camera)).mean()) > 200
            await camera.act("uncover", {})
            await camera.act("defocus", {})
            assert sharpness(await picture(camera)) < sharpness(clear) / 2
            await camera.act("uncover", {})
            await camera.act("crowd", {"people": 25})
            crowded = await picture(camera)
            assert float(np.abs(crowded.astype(int) - clear.astype(int)).mean()) > 3
            state = await camera.state()
            assert state["scene"]["people"] == 25 and state["scene"]["people_in_zone"] == 25

    run(scenario())


def test_actions_refuse_what_does_not_fit_and_state_tells_all() -> None:
    async def scenario() -> None:
        async with simulated() as camera:
            with pytest.raises(UnknownAction):
                await camera.act("explode", {})
            with pytest.raises(InvalidArguments):
                await camera.act("crowd", {"people": -1})
            with pytest.raises(InvalidArguments):
                await camera.act("motion", {"on": True, "extra": 1})
            with pytest.raises(UnknownPoint):
                await camera.act("goto-preset", {"preset": "roof"})
            with pytest.raises(InvalidArguments):
                await camera.act("input", {"on": True, "input": "DigitalInput_9"})
            await camera.act("people", {"count": 3})
            await camera.act("clock", {"offset": 30})
            state = await camera.state()
            for key in ("online", "preset", "scene", "events", "clock", "urls", "ptz",
                        "inputs", "rtsp", "discovery"):
                assert key in state
            assert state["scene"]["people"] == 3 and state["clock"]["offset"] == 30
            assert state["preset"] == "gate" and state["online"] is True
            assert state["urls"]["device"].endswith("/onvif/device_service")
            json.dumps(state)  # what GET /devices/<id> sends

    run(scenario())


def test_snapshot_without_digest_from_aiohttp_is_challenged() -> None:
    async def scenario() -> None:
        async with simulated() as camera, aiohttp.ClientSession() as http:
            async with http.get(camera.snapshot_url("Profile_1")) as answer:
                assert answer.status == 401
                assert answer.headers["WWW-Authenticate"].startswith("Digest ")
            header = security_header(PASSWORD)
            assert (await soap(camera, "<tds:GetScopes/>", header)).status_code == 200

    run(scenario())
