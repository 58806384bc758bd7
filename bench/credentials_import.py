"""A school district's credential list imported from a CSV file: `campus-gateway credentials
import`, as an integrator runs it against the gateway process, through a private mosquitto.

The file has ``--rows`` cards (one person each, a Chinese name, a gate). Printed: the file, its
parts, how long the command line takes to check it and to import it whole (until the gateway has
answered the last part, which swaps the list in), the requests a second, peak memory of the
command line and the gateway, and the counts the gateway then holds. The operator's rate is the
site file's ``commands.per_operator`` (``--rate``; the shipped default is 2 a second, burst 20).
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from benchlib import Gateway, Mosquitto, check_quiet, machine, rss_mib

from gateway.access.imports import CredentialFile
from gateway.commands import token_digest


def write_cards(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("person_id,category,code,name,gates\n")
        for n in range(rows):
            f.write(f"S{n:07d},student,{10_000_000 + n},学生{n}号,main-gate\n")


def write_site(workdir: Path, broker_url: str, token: str, rate: float, burst: int) -> Path:
    site = {
        "site": {"id": "district-1"},
        "gateway": {"id": "gw1", "state_dir": str(workdir / "state"), "stats_interval": "60s"},
        "mqtt": {"url": broker_url, "protocol": "5"},
        "console": {"enabled": False},
        "operators": [{"name": "centre", "role": "supervisor",
                       "token_sha256": token_digest(token)}],
        "commands": {"per_operator": {"burst": burst, "per_second": rate}},
        "access": {"gates": [{"id": "main-gate"}]},
    }
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False, allow_unicode=True))
    return path


def cli(site: Path, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAMPUS_OPERATOR": "centre", "CAMPUS_OPERATOR_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "-c", str(site)],
                          capture_output=True, text=True, env=env, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=2.0,
                        help="the operator's requests a second (commands.per_operator)")
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    check_quiet({os.getpid()})
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = Path(tmp)
        cards = workdir / "cards.csv"
        write_cards(cards, args.rows)
        started = time.perf_counter()
        with CredentialFile(cards) as file:
            checked = time.perf_counter() - started
            parts = file.parts
        print(f"file: {args.rows:,} rows, {cards.stat().st_size / 2**20:.1f} MiB, {parts:,} "
              f"parts; read and checked in {checked:.1f} s (in this process)")
        token = secrets.token_urlsafe(24)
        broker = Mosquitto(workdir).start()
        site = write_site(workdir, broker.url, token, args.rate, args.burst)
        gateway = Gateway(site)
        try:
            for _ in range(100):
                if cli(site, token, "credentials", "status").returncode == 0:
                    break
                time.sleep(0.2)
            started = time.perf_counter()
            done = cli(site, token, "credentials", "import", str(cards))
            took = time.perf_counter() - started
            if done.returncode != 0:
                print(done.stderr[-2000:])
                raise SystemExit(f"the import failed ({done.returncode})")
            cli_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"rate: {args.rate:g} requests/s, burst {args.burst}")
            print(f"import: {took:.1f} s for {args.rows:,} rows ({parts / took:.1f} parts/s, "
                  f"{args.rows / took:,.0f} rows/s), the command line included")
            print(f"  {done.stdout.strip()}")
            print(f"peak memory: command line {cli_rss:.0f} MiB, gateway now "
                  f"{rss_mib(gateway.proc.pid):.0f} MiB")
            status = cli(site, token, "credentials", "status")
            print(f"held: {status.stdout.strip()}")
        finally:
            gateway.stop()
            broker.stop()


if __name__ == "__main__":
    main()
