"""Timed scenarios: a YAML list of steps played against the control API of a running campus.

A step names a time (seconds from the start, or a duration such as ``"500ms"``) and either a
device, an action and its arguments (played on the simulators), or a gateway ``command`` and its
arguments (sent over MQTT like the central platform would: starting a drill, acknowledging an
alarm). In command arguments ``$last_alarm`` stands for the newest open alarm. Scenarios are
checked completely before anything is played: the file against the schema, then every device and
action against what the running campus offers, so a typo in step 7 does not leave the campus half
way through a drill.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from gateway.documents import DocumentError, read_yaml
from gateway.fields import Identifier, Seconds, Strict, validation_problems
from simulators.control_client import ControlClient, ControlError


class ScenarioError(Exception):
    """A scenario that cannot be played; ``problems`` lists each one with file and step."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


LAST_ALARM = "$last_alarm"

# A gateway command: (name, args) -> the response's data; raises ScenarioError when refused.
Commander = Callable[[str, dict[str, Any]], Awaitable[Any]]


class Step(Strict):
    at: Seconds
    device: Identifier | None = None
    action: Identifier | None = None
    command: str | None = Field(default=None, pattern=r"^[a-z]+\.[a-z_]+$")
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if self.command is None and (self.device is None or self.action is None):
            raise ValueError("a step needs device and action, or command")
        if self.command is not None and (self.device is not None or self.action is not None):
            raise ValueError("a step has either device and action, or command, not both")
        return self

    def describe(self) -> str:
        args = " ".join(
            f"{key}={value if isinstance(value, str) else json.dumps(value)}"
            for key, value in self.args.items()
        )
        what = f"gateway {self.command}" if self.command else f"{self.device} {self.action}"
        return what + (f" {args}" if args else "")


class Scenario(Strict):
    name: str = ""
    description: str = ""
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_time_order(self) -> Scenario:
        for index in range(1, len(self.steps)):
            if self.steps[index].at < self.steps[index - 1].at:
                raise ValueError(
                    f"steps[{index}].at: {self.steps[index].at:g}s is earlier than"
                    f" steps[{index - 1}] ({self.steps[index - 1].at:g}s); keep steps in time order"
                )
        return self


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: ``on: true`` must stay the argument ``on``, not the key ``True``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file, or raise ScenarioError naming file and step index."""
    path = Path(path)
    try:
        raw = read_yaml(path, loader=_Loader).data
    except DocumentError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: (top level): expected a mapping with steps: [...]")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(path, exc)
        raise ScenarioError("\n".join(problems), problems) from None


async def check_against(scenario: Scenario, client: ControlClient, source: str) -> None:
    """Every step names a device the campus has and an action that device knows."""
    devices = {d["id"]: d for d in await client.devices()}
    problems: list[str] = []
    for index, step in enumerate(scenario.steps):
        if step.command is not None or step.device is None:
            continue
        device = devices.get(step.device)
        if device is None:
            problems.append(
                f"{source}: steps[{index}].device: no device {step.device!r} in the running"
                f" campus (devices: {', '.join(devices)})"
            )
        elif step.action not in device.get("actions", [step.action]):
            problems.append(
                f"{source}: steps[{index}].action: {step.device} has no action {step.action!r}"
                f" (actions: {', '.join(device['actions'])})"
            )
    if problems:
        raise ScenarioError("\n".join(problems), problems)


async def play(
    scenario: Scenario,
    client: ControlClient,
    *,
    source: str = "scenario",
    speed: float = 1.0,
    echo: Callable[[str], None] = print,
    commander: Commander | None = None,
) -> list[Any]:
    """Play every step at its time (divided by ``speed``); stop at the first refused step."""
    if commander is None and any(step.command for step in scenario.steps):
        raise ScenarioError(
            f"{source}: this scenario sends gateway commands: give --broker and -c SITE.yaml, "
            "and the operator in CAMPUS_OPERATOR and CAMPUS_OPERATOR_TOKEN")
    await check_against(scenario, client, source)
    loop = asyncio.get_running_loop()
    started = loop.time()
    results: list[Any] = []
    for index, step in enumerate(scenario.steps):
        await asyncio.sleep(max(0.0, started + step.at / speed - loop.time()))
        prefix = f"[{loop.time() - started:8.3f}s] step {index}: {step.describe()}"
        try:
            if step.command is not None and commander is not None:
                results.append(await _command(commander, step.command, step.args))
            else:
                assert step.device is not None and step.action is not None
                results.append(await client.act(step.device, step.action, step.args))
        except (ControlError, ScenarioError) as exc:
            echo(f"{prefix} -> FAILED")
            raise ScenarioError(f"{source}: steps[{index}]: {exc}") from None
        echo(f"{prefix} -> ok")
    return results


async def _command(commander: Commander, name: str, args: dict[str, Any]) -> Any:
    if LAST_ALARM in args.values():
        open_alarms = await commander("alarm.list", {})
        if not open_alarms:
            raise ScenarioError(f"{name}: {LAST_ALARM} given but no alarm is open")
        newest = max(open_alarms, key=lambda a: a["raised_at"])["alarm_id"]
        args = {k: newest if v == LAST_ALARM else v for k, v in args.items()}
    return await commander(name, args)
