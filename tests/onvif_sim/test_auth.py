"""WS-Security UsernameToken on every operation but GetSystemDateAndTime, over raw SOAP."""

from __future__ import annotations

import datetime as dt

import pytest
import zeep.exceptions

from simulators.onvif import SimulatedCamera
from simulators.onvif.xmltree import etree
from tests.onvif_sim.support import PASSWORD, client, run, security_header, simulated, soap

INFO = "<tds:GetDeviceInformation/>"
ENV_NS = "http://www.w3.org/2003/05/soap-envelope"


def fault_of(body: bytes) -> tuple[list[str], str]:
    root = etree.fromstring(body)
    values = [v.text for v in root.iter(f"{{{ENV_NS}}}Value")]
    reason = root.findtext(f".//{{{ENV_NS}}}Reason/{{{ENV_NS}}}Text")
    return values, reason or ""


async def refused(camera: SimulatedCamera, header: str) -> str:
    answer = await soap(camera, INFO, header)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/soap+xml")
    codes, reason = fault_of(answer.content)
    assert codes == ["env:Sender", "ter:NotAuthorized"]
    assert "not authorized" in reason
    return reason


def test_digest_is_checked_and_refusals_are_soap_faults() -> None:
    async def scenario() -> None:
        async with simulated() as camera:
            time_answer = await soap(camera, "<tds:GetSystemDateAndTime/>")
            assert time_answer.status_code == 200  # the one operation without credentials

            ok = await soap(camera, INFO, security_header(PASSWORD))
            assert ok.status_code == 200 and b"Campus Sim" in ok.content

            assert "no WS-Security" in await refused(camera, "")
            assert "wrong user name or password" in await refused(
                camera, security_header("wrong"))
            assert "wrong user name or password" in await refused(
                camera, security_header(PASSWORD, user="operator"))
            stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
            assert "from the device clock" in await refused(
                camera, security_header(PASSWORD, created=stale))
            ahead = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
            assert "from the device clock" in await refused(
                camera, security_header(PASSWORD, created=ahead))

            header = security_header(PASSWORD)
            assert (await soap(camera, INFO, header)).status_code == 200
            assert "replay" in await refused(camera, header)
            assert camera.counters["refused"] == 6

    run(scenario())


def test_wrong_password_through_onvif_client_is_a_fault() -> None:
    async def scenario() -> None:
        async with simulated() as camera:
            with pytest.raises(zeep.exceptions.Fault, match="not authorized"):
                async with client(camera, password="wrong") as onvif:
                    device = await onvif.create_devicemgmt_service()
                    await device.GetDeviceInformation()

    run(scenario())


def test_password_change_takes_effect_everywhere() -> None:
    async def scenario() -> None:
        async with simulated() as camera:
            await camera.act("password", {"value": "rotated-2"})
            await refused(camera, security_header(PASSWORD))
            assert (await soap(camera, INFO, security_header("rotated-2"))).status_code == 200
            async with client(camera, password="rotated-2") as onvif:
                assert await onvif.get_snapshot("Profile_1")

    run(scenario())


def test_clock_offset_is_the_camera_clock() -> None:
    async def scenario() -> None:
        async with simulated(simulator={"clock_offset": 3600}) as camera:
            async with client(camera) as onvif:  # adjust_time: learns the offset first
                assert onvif.dt_diff is not None
                assert 3590 < onvif.dt_diff.total_seconds() < 3610
                device = await onvif.create_devicemgmt_service()
                assert (await device.GetHostname()).Name == "gate-cam"
            with pytest.raises(zeep.exceptions.Fault, match="not authorized"):
                async with client(camera, adjust_time=False) as naive:
                    await (await naive.create_devicemgmt_service()).GetHostname()
            camera_time = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3600)
            ok = await soap(camera, INFO, security_header(PASSWORD, created=camera_time))
            assert ok.status_code == 200
            await camera.act("clock", {"offset": -120})
            state = await camera.state()
            assert state["clock"]["offset"] == -120
            ok = await soap(camera, INFO, security_header(PASSWORD))  # 2 min off: accepted
            assert ok.status_code == 200

    run(scenario())


def test_malformed_and_unknown_requests() -> None:
    async def scenario() -> None:
        async with simulated() as camera:
            bad = await soap(camera, "<tds:GetDeviceInformation>", security_header(PASSWORD))
            assert bad.status_code == 400
            unknown = await soap(camera, "<tds:GetUsers/>", security_header(PASSWORD))
            codes, reason = fault_of(unknown.content)
            assert "ter:ActionNotSupported" in codes and "GetUsers" in reason

    run(scenario())
