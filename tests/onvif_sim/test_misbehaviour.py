"""The camera's misbehaviours a client meets on the wire: a spoiled PullMessages answer, late
answers, and a clock anywhere in the calendar (through onvif-zeep-async and raw SOAP)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from lxml import etree as lxml_etree  # type: ignore[import-untyped]  # lxml ships no stubs

from simulators.onvif.abuse import spoiled
from simulators.onvif.xmltree import etree
from tests.onvif_sim.support import client, pull, run, simulated, soap

ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
TT_NS = "http://www.onvif.org/ver10/schema"


def test_a_malformed_pull_answer_is_cut_off_mid_document() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            manager = await onvif.create_pullpoint_manager(dt.timedelta(minutes=10),
                                                           lambda: None)
            service = manager.get_service()
            await pull(service, seconds=1)
            camera.abuse.pull_malformed = "xml"
            with pytest.raises(Exception):  # noqa: B017  # zeep's own failure, whichever it is
                await pull(service, seconds=1)
            camera.abuse.pull_malformed = ""  # the pull point is still there
            assert await pull(service, seconds=1) == []
            await manager.stop()

    run(scenario())


def test_the_spoiled_answers_are_what_they_say() -> None:
    answer = (f'<env:Envelope xmlns:env="{ENV_NS}"><env:Body><r xmlns="urn:x"><a>1</a></r>'
              "</env:Body></env:Envelope>").encode()
    with pytest.raises(lxml_etree.XMLSyntaxError):
        lxml_etree.fromstring(spoiled(answer, "xml"))
    bare = lxml_etree.fromstring(spoiled(answer, "envelope"))
    assert bare.tag == "{urn:x}r" and bare.findtext("{urn:x}a") == "1"


def test_a_pull_answer_without_its_envelope_is_well_formed_but_no_soap() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            manager = await onvif.create_pullpoint_manager(dt.timedelta(minutes=10),
                                                           lambda: None)
            service = manager.get_service()
            camera.abuse.pull_malformed = "envelope"
            with pytest.raises(Exception) as refused:
                await pull(service, seconds=1)
            assert "Envelope" in str(refused.value) or "envelope" in str(refused.value)
            camera.abuse.pull_malformed = ""
            await manager.stop()

    run(scenario())


def test_a_slow_camera_answers_late_but_answers() -> None:
    async def scenario() -> None:
        async with simulated(simulator={"answer_delay": 0.5}) as camera:
            with pytest.raises(httpx.TimeoutException):
                async with httpx.AsyncClient(timeout=0.1) as http:
                    await http.post(f"{camera.base_url}/onvif/device_service",
                                    content=b"<x/>")
            answer = await soap(camera, "<tds:GetSystemDateAndTime/>")  # 10 s client timeout
            assert answer.status_code == 200
            camera.abuse.answer_delay = 0
            async with httpx.AsyncClient(timeout=0.1) as http:
                quick = await http.post(f"{camera.base_url}/onvif/device_service",
                                        content=b"<x/>")
            assert quick.status_code == 400  # at once again (and no SOAP: a fault)

    run(scenario())


@pytest.mark.parametrize("year", [1, 1970, 9999])
def test_the_clock_can_be_set_anywhere_in_the_calendar(year: int) -> None:
    async def scenario() -> None:
        async with simulated() as camera:
            at = dt.datetime(year, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
            await camera.act("clock", {"at": at.isoformat()})
            answer = await soap(camera, "<tds:GetSystemDateAndTime/>")
            utc = etree.fromstring(answer.content).find(f".//{{{TT_NS}}}UTCDateTime")
            assert utc is not None
            assert utc.findtext(f"{{{TT_NS}}}Date/{{{TT_NS}}}Year") == str(year)
            assert utc.findtext(f"{{{TT_NS}}}Date/{{{TT_NS}}}Month") == "1"
            # a client that learns the camera's clock first still signs what it accepts
            async with client(camera) as onvif:
                device = await onvif.create_devicemgmt_service()
                assert (await device.GetHostname()).Name == "gate-cam"

    run(scenario())


def test_the_clock_takes_an_offset_or_a_time_not_both() -> None:
    async def scenario() -> None:
        async with simulated() as camera:
            for args in ({}, {"offset": 1, "at": "2020-01-01T00:00:00Z"},
                         {"at": "9999-12-31T12:00:00Z"}):
                with pytest.raises(Exception, match=r"offset|at"):
                    await camera.act("clock", args)

    run(scenario())
