"""The OSDP conformance table (docs/osdp-conformance.md) names tests that exist: each one is
collected by pytest, so a renamed or removed test fails here until the table follows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "osdp-conformance.md"
NODE = re.compile(r"`(tests/[\w/]+\.py::\w+(?:\[[\w.-]+\])?)`")


def named_tests() -> list[str]:
    rows = [line for line in TABLE.read_text().splitlines() if line.startswith("| 0")
            or line.startswith("| 2-") or line.startswith("| OSDP")]
    return sorted({node for row in rows for node in NODE.findall(row)})


def test_every_test_the_conformance_table_names_is_collected() -> None:
    nodes = named_tests()
    assert len(nodes) >= 20, nodes
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                                "-p", "no:cacheprovider", *nodes], cwd=ROOT,
                               capture_output=True, text=True)
    found = collected.stdout.split()
    # a parametrised test named without its parameters is collected as each of them
    missing = [node for node in nodes
               if not any(f == node or f.startswith(f"{node}[") for f in found)]
    assert not missing and collected.returncode == 0, (missing, collected.stdout[-2000:],
                                                       collected.stderr[-2000:])
