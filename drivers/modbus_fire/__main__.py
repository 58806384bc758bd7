"""Check register-map profiles without a panel: ``python -m drivers.modbus_fire FILE.yaml ...``.

Prints what the driver would read for each valid file, and every problem (file: path: message)
for the others; exits 2 if any file is invalid. Integrators run it while writing a profile.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from drivers.modbus_fire.catalog import ProfileError, load_register_map
from drivers.modbus_fire.register_map import RegisterMap

EXIT_INVALID = 2


def describe(register_map: RegisterMap) -> list[str]:
    """A short human summary of a laid-out profile."""
    loop_points = register_map.loop_points
    loops = sorted({p.loop for p in loop_points if p.loop is not None})
    panel = [p.id for p in register_map.points.values() if p.loop is None]
    conditions = sorted({s.condition for s in register_map.signals})
    coil = register_map.reset_coil
    reads = ", ".join(f"{r.table} {r.address}+{r.count}" for r in register_map.reads)
    return [
        f"  {len(loop_points)} loop points on loop(s) {', '.join(map(str, loops))}",
        f"  conditions: {', '.join(conditions)}",
        f"  panel points: {', '.join(panel) or 'none'};"
        f" flags: {', '.join(register_map.flags) or 'none'}",
        f"  reset coil: {coil.address if coil is not None else 'none (reset at the panel)'}",
        f"  {len(register_map.reads)} read(s) per poll: {reads}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drivers.modbus_fire", description="check fire panel register-map profiles"
    )
    parser.add_argument("files", nargs="+", metavar="PROFILE.yaml")
    args = parser.parse_args(argv)
    status = 0
    for name in args.files:
        try:
            register_map = load_register_map(name)
        except ProfileError as exc:
            print("\n".join(exc.problems), file=sys.stderr)
            status = EXIT_INVALID
            continue
        print(f"{name}: ok")
        print("\n".join(describe(register_map)))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
