"""The site file's alarm_centre stanza: what it refuses, naming the place, and what it implies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.alarm_centre.config import AlarmCentre
from gateway.config import load_site
from gateway.kernel.fields import ConfigError


def problems(tmp_path: Path, centre: dict[str, Any]) -> str:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"site": {"id": "school"}, "alarm_centre": centre}))
    with pytest.raises(ConfigError) as refused:
        load_site(site)
    return str(refused.value)


def test_refusals_name_the_place(tmp_path: Path) -> None:
    good = {"account": "1234", "receivers": [{"url": "tcp://arc.example:6000"}]}
    assert "alarm_centre.account" in problems(tmp_path, {**good, "account": "12"})
    assert "alarm_centre.account" in problems(tmp_path, {**good, "account": "XYZ1"})
    assert "alarm_centre.receivers" in problems(tmp_path, {**good, "receivers": []})
    assert "port 70000 is not 1 to 65535" in problems(
        tmp_path, {**good, "receivers": [{"url": "udp://arc.example:70000"}]})
    twice = problems(tmp_path, {**good, "receivers": [{"url": "tcp://a:1", "name": "arc"},
                                                      {"url": "tcp://b:1", "name": "arc"}]})
    assert "two receivers named arc" in twice
    assert "give exactly one of env or file" in problems(tmp_path, {**good, "key": {}})
    assert "alarm_centre.key.text" in problems(tmp_path, {**good, "key": {"text": "00" * 16}})
    assert "0 to 999" in problems(tmp_path, {**good, "zones": {"gate-house": 1000}})
    assert "alarm_centre.codes.panic.sia" in problems(
        tmp_path, {**good, "codes": {"panic": {"sia": "panic", "cid": 120}}})


def test_defaults_codes_and_categories() -> None:
    one = AlarmCentre.model_validate({"account": "abc1", "receivers": [
        {"url": "tcp://[::1]:6000"}]})
    assert one.account == "ABC1"  # DC-09 writes hex in capitals
    assert (one.receivers[0].host, one.receivers[0].port) == ("::1", 6000)
    assert one.code_table()["panic"].sia == "PA" and one.protocol == "SIA-DCS"
    assert one.reporting_time() == 100 and one.category() == "SP4"
    two = AlarmCentre.model_validate({
        "account": "1234", "supervision": "5s", "receivers": [
            {"url": "tcp://a:1"}, {"url": "udp://b:2"}],
        "codes": {"tamper": {"sia": "TA", "restore": "TR", "cid": 144}}})
    assert two.receiver_names() == ["receiver-1", "receiver-2"]
    assert two.category() == "SP6 / DP4"
    assert two.code_table()["tamper"].cid == 144 and two.code_table()["panic"].cid == 120
