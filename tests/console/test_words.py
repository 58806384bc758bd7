"""Every word the console's pages show exists in both languages: the keys every template and
page script names, each event type, deny reason and alarm condition (a missing one would show a
raw id to the guard)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from gateway.alarms import CONDITION_NAMES
from gateway.console.i18n import TEXT
from gateway.kernel.access import DenyReason
from gateway.kernel.events import CATALOGUE

CONSOLE = Path(__file__).resolve().parents[2] / "gateway" / "console"


def keys_named() -> set[str]:
    """Every key a template (``t.key``) or a page script (``text("key")``) names; a prefix a
    script completes at run time (``text("c_" + condition)``) is checked by its own list."""
    named: set[str] = set()
    for html in sorted((CONSOLE / "templates").glob("*.html")):
        named |= set(re.findall(r"\bt\.([a-z_0-9]+)", html.read_text()))
    for script in sorted((CONSOLE / "static").glob("*.js")):
        named |= set(re.findall(r'\btext\("([a-z_0-9]+)"', script.read_text()))
    return {key for key in named - {"get"} if not key.endswith("_")}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_word_of_the_pages_is_in_the_catalogue(language: str) -> None:
    words = TEXT[language]
    missing = sorted(k for k in keys_named() if k not in words)
    assert not missing, f"{language}: {missing}"
    missing = sorted(
        [f"e_{t.removeprefix('campus.')}" for t in CATALOGUE]
        + [f"deny_{r}" for r in get_args(DenyReason)]
        + [f"c_{c}" for c in CONDITION_NAMES]
        + [f"mark_report_{k}" for k in ("first", "written", "general")]
        + [f"outcome_{o}" for o in ("ok", "denied", "error")])
    missing = [k for k in missing if k not in words]
    assert not missing, f"{language}: {missing}"
