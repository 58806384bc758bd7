"""Field types shared by the site file, the driver sections and scenario files: durations,
identifiers, and how a validation error is told to the person who wrote the file."""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Callable, Hashable, Set
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``"100ms"``, ``"2s"``, ``"20m"``, ``"1h"``, ``"7d"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 100ms, 2s, 20m, 1h")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    raise ValueError(f"expected a duration such as 100ms, 2s, 20m, 1h; got {value!r}")


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


def _known_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


TimeZone = Annotated[str, AfterValidator(_known_zone)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
SimulatorBlock = Annotated[dict[str, Any] | None, Field(
    default=None, description="the device simulator's options (a dialect: simulators/"
                              "dialects.py); the gateway ignores it")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)




def _location(loc: tuple[int | str, ...], skip: Set[str]) -> str:
    parts: list[str] = []
    for item in _yaml_path(loc, skip):
        parts.append(f"[{item}]" if isinstance(item, int) else ("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def _yaml_path(loc: tuple[int | str, ...], skip: Set[str]) -> tuple[int | str, ...]:
    """The keys and indexes of an error's place in the file (without pydantic's own names)."""
    return tuple(item for item in loc if isinstance(item, int)
                 or not (item in skip or item.startswith("function-")))


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if "input" in error and kind != "value_error":
        return f"{message} (got {error['input']!r})"
    return message


def validation_problems(path: Path, exc: ValidationError, skip: Set[str] = frozenset(),
                        lines: Callable[[tuple[Hashable, ...]], int | None] | None = None,
                        ) -> list[str]:
    """One ``file: path.inside.yaml: what was expected (line N)`` line per problem.

    ``skip``: union tags (such as driver names) that pydantic puts in a location; ``lines``:
    the line of a place in the file, where the reader knows it.
    """
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = _location(loc, skip)
        line = lines(_yaml_path(loc, skip)) if lines is not None and loc else None
        at = f" (line {line})" if line else ""
        for text in _describe(err).splitlines():
            # whole-file checks name their own paths (devices[1].id: ...)
            problems.append(f"{path}: {text}{at}" if not err["loc"]
                            else f"{path}: {where}: {text}{at}")
    return problems


class ConfigError(Exception):
    """A site file that cannot be used; the message names file, path and what was expected."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class Secret(Strict):
    """A secret is never written in the site file: it is read from the environment or a file."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def read(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}") from exc


def secrets_in(model: object) -> list[Secret]:
    """Every ``Secret`` a config model holds, however deep (readers' keys, cameras' passwords)."""
    if isinstance(model, Secret):
        return [model]
    found: list[Secret] = []
    if isinstance(model, BaseModel):
        for name in type(model).model_fields:
            found += secrets_in(getattr(model, name))
    elif isinstance(model, list | tuple):
        for item in model:
            found += secrets_in(item)
    return found
