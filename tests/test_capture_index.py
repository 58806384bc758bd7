"""Every capture in ``tests/captures/`` has its provenance in ``tests/captures/SOURCES.md``, and
every file that index names exists: a capture without a source cannot enter the corpus."""

from __future__ import annotations

import re
from pathlib import Path

CAPTURES = Path(__file__).parent / "captures"


def _indexed() -> dict[str, set[str]]:
    """Per folder (``## `onvif/` ...``), the files named in the first column of its table."""
    indexed: dict[str, set[str]] = {}
    folder = None
    for line in (CAPTURES / "SOURCES.md").read_text().splitlines():
        heading = re.match(r"## `([a-z]+)/`", line)
        if heading:
            folder = heading.group(1)
            indexed[folder] = set()
        row = re.match(r"\| `([^`]+)` \|", line)
        if row and folder is not None:
            indexed[folder].add(row.group(1))
    return indexed


def test_every_capture_has_a_source_and_every_source_a_capture() -> None:
    indexed = _indexed()
    present = {d.name: {f.name for f in d.iterdir() if f.is_file()}
               for d in CAPTURES.iterdir() if d.is_dir() and any(d.iterdir())}
    assert set(present) == set(indexed), "a folder without an index section (or the reverse)"
    for folder, files in present.items():
        assert files - indexed[folder] == set(), f"{folder}/: captures without a source"
        assert indexed[folder] - files == set(), f"{folder}/: sources without a capture"
