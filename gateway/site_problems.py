"""Every problem of a site file, not only those pydantic reaches first.

pydantic runs a model's whole-model checks (duplicate device ids, clashing ports, linkage that
names no device) only when all of its fields are valid: a missing map image hid a duplicate
device id. So the places found wrong are taken out of a copy of the document (the key first;
its enclosing entry if the key is required) and the copy is checked again, until it validates or
nothing more can be taken out. What the later rounds find is reported at the places of the
original file. A round's complaint about a place that was taken out (or that encloses one) is
an effect of taking it out and is not reported, nor is a whole-file complaint naming the id of
an entry taken out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Set
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gateway.kernel.fields import _describe, _location, _yaml_path

Place = tuple[int | str, ...]
MAX_ROUNDS = 25
INDEXED = re.compile(r"(?<![\w.\]])([a-z_]+(?:\.[a-z_]+)*)\[(\d+)\]")


def every_problem(model: type[BaseModel], raw: dict[str, Any], context: dict[str, Any],
                  path: Path, first: ValidationError, skip: Set[str],
                  lines: Callable[[tuple[Hashable, ...]], int | None]) -> list[str]:
    """The problems of ``first`` and those its errors hid, one line each."""
    problems: list[str] = []
    removed: set[Place] = set()
    ids: set[str] = set()  # ids of list entries taken out
    error: ValidationError | None = first
    _copy, kept = _without(raw, removed, ())  # the copy this round's errors are about
    for _round in range(MAX_ROUNDS):
        if error is None:
            break
        grown = False
        for err in error.errors():
            place = _original(_yaml_path(tuple(err["loc"]), skip), kept)
            effect = bool(place) and any(r[:len(place)] == place for r in removed)
            if not effect:
                for text in _describe(err).splitlines():
                    line = _report(path, place, _renumber(text, kept), lines)
                    if line not in problems and (place or not any(f"'{i}'" in text
                                                                  for i in ids)):
                        problems.append(line)
            target = place
            while target in removed:  # required where it is: take out what holds it
                target = target[:-1]
            if target:
                removed.add(target)
                entry = _at(raw, target)
                if isinstance(target[-1], int) and isinstance(entry, dict) \
                        and isinstance(entry.get("id"), str):
                    ids.add(entry["id"])
                grown = True
        if not grown:
            break
        copy, kept = _without(raw, removed, ())
        try:
            model.model_validate(copy, context=context)
            error = None
        except ValidationError as exc:
            error = exc
    return problems


def _report(path: Path, place: Place, text: str,
            lines: Callable[[tuple[Hashable, ...]], int | None]) -> str:
    if not place:
        return f"{path}: {text}"
    line = lines(place)
    return f"{path}: {_location(place, frozenset())}: {text}" + (f" (line {line})" if line
                                                                  else "")


def _at(doc: Any, place: Place) -> Any:
    for key in place:
        try:
            doc = doc[key]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


Kept = dict[Place, list[int]]  # a list's original place -> original indexes still in the copy


def _without(doc: Any, removed: set[Place], here: Place) -> tuple[Any, Kept]:
    """A copy of ``doc`` without the places removed, and where each list's entries came from."""
    kept: Kept = {}
    if isinstance(doc, dict):
        out: dict[Any, Any] = {}
        for key, value in doc.items():
            if (*here, key) not in removed:
                out[key], inner = _without(value, removed, (*here, key))
                kept.update(inner)
        return out, kept
    if isinstance(doc, list):
        indexes = [n for n in range(len(doc)) if (*here, n) not in removed]
        kept[here] = indexes
        items = []
        for n in indexes:
            item, inner = _without(doc[n], removed, (*here, n))
            items.append(item)
            kept.update(inner)
        return items, kept
    return doc, kept


def _original(place: Place, kept: Kept) -> Place:
    """A place in the copy as a place in the file."""
    out: list[int | str] = []
    for key in place:
        indexes = kept.get(tuple(out))
        if isinstance(key, int) and indexes is not None and key < len(indexes):
            key = indexes[key]
        out.append(key)
    return tuple(out)


def _renumber(text: str, kept: Kept) -> str:
    """``devices[3]`` in a whole-file check's message, as the file numbers it."""
    def original(match: re.Match[str]) -> str:
        place = tuple(match.group(1).split("."))
        indexes = kept.get(place)
        n = int(match.group(2))
        return f"{match.group(1)}[{indexes[n] if indexes and n < len(indexes) else n}]"
    return INDEXED.sub(original, text)
