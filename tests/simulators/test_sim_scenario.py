"""Scenario files: validation that names file and step, and playback over the control API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_site
from simulators.campus import SimulatedCampus
from simulators.control import ControlServer
from simulators.control_client import ControlClient
from simulators.scenario import ScenarioError, load_scenario, play

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_durations_and_yaml_on_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
steps:
  - {at: 0, device: hall-io, action: press, args: {point: btn-1}}
  - {at: 500ms, device: hall-io, action: tamper, args: {point: btn-1, on: true}}
  - {at: 2s, device: hall-io, action: offline}
""",
    )
    scenario = load_scenario(path)
    assert [step.at for step in scenario.steps] == [0.0, 0.5, 2.0]
    assert scenario.steps[1].args == {"point": "btn-1", "on": True}, "`on` stays a key"
    assert scenario.steps[2].args == {}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "steps:\n  - {at: 0, device: a, action: press, colour: red}\n",
            "steps[0].colour: unknown key",
        ),
        ("steps:\n  - {at: soon, device: a, action: press}\n", "steps[0].at: "),
        ("steps:\n  - {at: 0, action: press}\n",
         "steps[0]: a step needs device and action, or command"),
        ("steps: []\n", "steps: "),
        (
            "steps:\n  - {at: 5, device: a, action: press}\n"
            "  - {at: 1, device: a, action: online}\n",
            "steps[1].at: 1s is earlier than steps[0]",
        ),
        ("- just a list\n", "(top level)"),
    ],
)
def test_errors_name_file_and_step(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_shipped_demo_scenario_fits_the_demo_campus() -> None:
    scenario = load_scenario(REPO / "config" / "scenarios" / "demo-panic.yaml")
    site = load_site(REPO / "config" / "demo-campus.yaml")
    devices = {d.id: d for d in site.devices}
    for step in scenario.steps:
        assert step.device in devices
        if "point" in step.args:
            assert step.args["point"] in {p.id for p in devices[step.device].points}


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "config" / "scenarios").glob(
    "*.yaml")))
def test_every_shipped_scenario_names_what_the_demo_campus_has(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.command_table import COMMANDS
    from gateway.demo import make_secrets
    from simulators.campus import SimulatedCampus

    scenario = load_scenario(REPO / "config" / "scenarios" / name)
    monkeypatch.chdir(tmp_path)  # the demo's key files are made where it runs
    site = load_site(REPO / "config" / "demo-campus.yaml")
    make_secrets(site)
    campus = SimulatedCampus(site)
    devices = {d.device_id: d for d in campus.devices}
    for index, step in enumerate(scenario.steps):
        if step.command is not None:
            assert step.command in COMMANDS, f"steps[{index}]: {step.command}"
            continue
        assert step.device in devices, f"steps[{index}]: {step.device}"
        actions = list(devices[step.device].actions)
        assert step.action in actions or any(a.startswith("<") for a in actions), (
            f"steps[{index}]: {step.device} has no action {step.action} ({actions})")


def test_play_against_a_running_campus(
    io_site: tuple[Path, int],
    free_port: Callable[[], int],
    tmp_path: Path,
    run: Callable[..., Any],
) -> None:
    site_path, _ = io_site
    path = write(
        tmp_path,
        """
name: short drill
steps:
  - {at: 0, device: hall-io, action: press, args: {point: btn-1}}
  - {at: 100ms, device: hall-io, action: offline, args: {mode: silent}}
  - {at: 200ms, device: hall-io, action: online}
  - {at: 300ms, device: hall-io, action: key-reset, args: {point: btn-1}}
  - {at: 300ms, device: hall-io, action: press, args: {point: btn-2}}
""",
    )
    lines: list[str] = []

    async def scenario() -> None:
        async with SimulatedCampus.from_file(site_path) as campus:
            control = ControlServer(campus, "127.0.0.1", free_port())
            await control.start()
            try:
                async with ControlClient(control.url) as client:
                    results = await play(load_scenario(path), client, echo=lines.append)
            finally:
                await control.stop()
            points = {p["id"]: p for p in results[-1]["state"]["points"]}
            assert points["btn-1"]["pressed"] is False
            assert points["btn-2"]["pressed"] is True
            assert results[1]["state"]["offline_mode"] == "silent"

    run(scenario())
    assert len(lines) == 5
    assert "step 0: hall-io press point=btn-1 -> ok" in lines[0]


def test_unknown_device_is_caught_before_anything_is_played(
    io_site: tuple[Path, int],
    free_port: Callable[[], int],
    tmp_path: Path,
    run: Callable[..., Any],
) -> None:
    site_path, _ = io_site
    path = write(
        tmp_path,
        """
steps:
  - {at: 0, device: hall-io, action: press, args: {point: btn-1}}
  - {at: 0, device: roof-io, action: press, args: {point: btn-1}}
  - {at: 0, device: hall-io, action: explode}
""",
    )

    async def scenario() -> None:
        async with SimulatedCampus.from_file(site_path) as campus:
            control = ControlServer(campus, "127.0.0.1", free_port())
            await control.start()
            try:
                async with ControlClient(control.url) as client:
                    with pytest.raises(ScenarioError) as caught:
                        await play(load_scenario(path), client, source=str(path))
            finally:
                await control.stop()
            assert caught.value.problems == [
                f"{path}: steps[1].device: no device 'roof-io' in the running campus"
                " (devices: hall-io)",
                f"{path}: steps[2].action: hall-io has no action 'explode'"
                " (actions: press, release, key-reset, line-fault, tamper, offline, online,"
                " reply-fault, reply-delay, chatter, state)",
            ]
            state = await campus.state("hall-io")
            assert state["points"][0]["pressed"] is False, "nothing was played"

    run(scenario())
