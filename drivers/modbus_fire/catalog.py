"""Where register-map profiles are found, and loading one with errors an integrator can act on.

A site file says ``profile: NAME``; the file is ``profiles/fire/NAME.yaml`` beside the site
file (an integrator's own panel model) or else the shipped ``config/profiles/fire/NAME.yaml``.
Every problem is reported as ``FILE: path.inside.yaml: what is wrong``, one per line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drivers.modbus_fire.profile import FireProfile
from drivers.modbus_fire.register_map import MapError, RegisterMap
from gateway.kernel.documents import DocumentError, read_yaml

SHIPPED_PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles" / "fire"
SITE_PROFILES = Path("profiles") / "fire"

_LAYOUT_TAGS = {"bitmap", "status_word"}
_RULE_TAGS = {"rule", "rules"}
_SUB_PATH = re.compile(r"^[A-Za-z_][\w.\[\]]*: ")
_loaded: dict[tuple[Path, int, int], RegisterMap] = {}


class ProfileError(ValueError):
    """A profile that cannot be used; ``problems`` holds one ``file: path: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def profile_candidates(name: str, base_dir: Path | None = None) -> list[Path]:
    """The files a ``profile: NAME`` may mean, the site's own first."""
    candidates = [base_dir / SITE_PROFILES / f"{name}.yaml"] if base_dir is not None else []
    candidates.append(SHIPPED_PROFILES / f"{name}.yaml")
    return candidates


def find_register_map(name: str, base_dir: Path | None = None) -> RegisterMap:
    """Load the profile a site section names; raises ProfileError if missing or invalid."""
    candidates = profile_candidates(name, base_dir)
    for candidate in candidates:
        if candidate.is_file():
            return load_register_map(candidate)
    raise ProfileError(
        [f"fire panel profile {name!r} not found in {', '.join(map(str, candidates))}"]
    )


def load_register_map(path: str | Path) -> RegisterMap:
    """Read, validate and lay out one profile file (cached while the file is unchanged)."""
    path = Path(path)
    try:
        stat = path.stat()
        key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
        if key in _loaded:
            return _loaded[key]
        raw = read_yaml(path).data
    except OSError as exc:
        raise ProfileError([f"{path}: cannot read: {exc.strerror}"]) from None
    except DocumentError as exc:
        raise ProfileError([str(exc)]) from None
    register_map = parse_register_map(raw, path)
    _loaded[key] = register_map
    return register_map


def parse_register_map(raw: Any, source: Path) -> RegisterMap:
    """Validate an already-parsed profile document; ``source`` names it in every message."""
    if not isinstance(raw, dict):
        raise ProfileError([f"{source}: (top level): expected a mapping with points, layout ..."])
    try:
        profile = FireProfile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError([
            f"{source}: {line}" for err in exc.errors() for line in _describe(err).splitlines()
        ]) from None
    try:
        return RegisterMap(profile, name=source.stem)
    except MapError as exc:
        raise ProfileError([f"{source}: {exc}"]) from None


def _describe(error: Any) -> str:
    where = _location(tuple(error["loc"]))
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        if kind != "value_error" and "input" in error:
            message += f" (got {error['input']!r})"
    if not where:
        return message  # whole-profile checks name their own paths
    # a model-level check names the key inside the model it is about: "conditions[0].point: ..."
    return "\n".join(
        f"{where}.{line}" if _SUB_PATH.match(line) else f"{where}: {line}"
        for line in message.splitlines()
    )


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for index, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item == "[key]":
            parts.append(" (the key)")
        elif item.startswith("function-") or (
            item in _LAYOUT_TAGS and index > 0 and loc[index - 1] == "layout"
        ) or (item in _RULE_TAGS and index > 2 and loc[index - 2] == "conditions"):
            continue
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts)
