"""The camera simulator speaks other vendors' dialects on demand (``simulators/onvif/dialects.py``),
checked over raw HTTP and SOAP: what a client of that camera would see."""

from __future__ import annotations

import httpx

from simulators.onvif.xmltree import etree
from tests.onvif_sim.support import PASSWORD, USER, run, security_header, simulated, soap

PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"
PRESETS = (f'<tptz:GetPresets xmlns:tptz="{PTZ_NS}">'
           "<tptz:ProfileToken>Profile_1</tptz:ProfileToken></tptz:GetPresets>")


def test_presets_with_undeclared_prefixes() -> None:
    async def scenario() -> None:
        async with simulated(simulator={"presets_undeclared": True}) as camera:
            answer = await soap(camera, PRESETS, security_header(PASSWORD),
                                path="/onvif/ptz_service")
            assert answer.status_code == 200
            assert b"<tptz:Preset " in answer.content and b"xmlns:tptz" not in answer.content
            parser = etree.XMLParser(recover=True)
            root = etree.fromstring(answer.content, parser)
            assert any(e.tag == "tptz:Preset" for e in root.iter())  # no namespace: unusable
            other = await soap(camera, "<tds:GetDeviceInformation/>", security_header(PASSWORD))
            assert b"xmlns:tds=" in other.content  # only GetPresets speaks the dialect

    run(scenario())


def test_snapshot_behind_basic_only() -> None:
    async def scenario() -> None:
        async with simulated(simulator={"snapshot_auth": "basic"}) as camera:
            url = f"{camera.base_url}/snapshot.jpg?profile=Profile_1"
            async with httpx.AsyncClient(timeout=10) as http:
                bare = await http.get(url)
                assert bare.status_code == 401
                assert bare.headers["www-authenticate"].startswith("Basic realm=")
                digest = await http.get(url, auth=httpx.DigestAuth(USER, PASSWORD))
                assert digest.status_code == 401
                wrong = await http.get(url, auth=httpx.BasicAuth(USER, "wrong"))
                assert wrong.status_code == 401
                basic = await http.get(url, auth=httpx.BasicAuth(USER, PASSWORD))
                assert basic.status_code == 200 and basic.content[:2] == b"\xff\xd8"
            assert camera.counters["refused"] == 1  # the wrong password (Digest sent none)

    run(scenario())


def test_clock_only_with_credentials() -> None:
    async def scenario() -> None:
        async with simulated(simulator={"clock_needs_auth": True}) as camera:
            bare = await soap(camera, "<tds:GetSystemDateAndTime/>")
            assert bare.status_code == 400 and b"NotAuthorized" in bare.content
            signed = await soap(camera, "<tds:GetSystemDateAndTime/>",
                                security_header(PASSWORD))
            assert signed.status_code == 200 and b"UTCDateTime" in signed.content

    run(scenario())


def test_no_events_service() -> None:
    async def scenario() -> None:
        async with simulated(simulator={"events_service": False}) as camera:
            header = security_header(PASSWORD)
            services = await soap(camera, "<tds:GetServices><tds:IncludeCapability>false"
                                  "</tds:IncludeCapability></tds:GetServices>", header)
            assert services.status_code == 200
            listed = [e.text for e in etree.fromstring(services.content).iter(
                "{http://www.onvif.org/ver10/device/wsdl}Namespace")]
            assert "http://www.onvif.org/ver10/events/wsdl" not in listed
            assert "http://www.onvif.org/ver10/media/wsdl" in listed
            events = await soap(
                camera, '<tev:GetEventProperties xmlns:tev='
                '"http://www.onvif.org/ver10/events/wsdl"/>', security_header(PASSWORD),
                path="/onvif/event_service")
            assert events.status_code == 400 and b"ActionNotSupported" in events.content

    run(scenario())
