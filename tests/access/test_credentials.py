"""The credential store: versioned snapshots in parts, changes, idempotency, files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.access.credentials import (
    Changes,
    CredentialStore,
    Snapshot,
    SyncError,
    read_import_file,
    snapshot_parts,
)
from gateway.commands import MAX_REQUEST_BYTES
from tests.access.support import card, person


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_a_snapshot_in_parts_is_swapped_in_whole_once_the_last_part_arrives(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        store = CredentialStore(tmp_path)
        await store.snapshot(Snapshot(version=1, persons=[person("old")],
                                      credentials=[card("1", "old")]))
        people = [person(f"p{n}") for n in range(30)]
        cards = [card(str(100 + n), f"p{n}") for n in range(30)]
        parts = snapshot_parts(2, people, cards, per_part=20)
        assert len(parts) == 3
        for part in parts[:-1]:
            applied = await store.snapshot(part)
            assert not applied.complete
            assert store.version == 1 and store.holder("1") is not None
            assert store.holder("100") is None
        # a part sent twice is harmless
        await store.snapshot(parts[0])
        applied = await store.snapshot(parts[-1])
        assert applied.complete and applied.credentials == 30
        assert store.version == 2 and store.holder("1") is None
        assert store.holder("129") is not None and store.holder("129").person_id == "p29"
        again = await store.snapshot(parts[-1])
        assert again.already and store.version == 2
        store.close()

    run(scenario())


def test_every_part_fits_in_one_request(tmp_path: Path) -> None:
    people = [person(f"student-{n:08d}", gates=["main-gate", "east-gate"], name="名字" * 8,
                     valid_until="2027-07-01T00:00:00+08:00") for n in range(2000)]
    cards = [card(f"{n:010d}", f"student-{n:08d}", pin="123456",
                  valid_until="2027-07-01T00:00:00+08:00") for n in range(2000)]
    for part in snapshot_parts(5, people, cards):
        body = {"id": "x" * 36, "issued_at": "2026-12-01T00:00:00Z", "operator": "centre",
                "token": "t" * 64, "args": json.loads(part.model_dump_json())}
        assert len(json.dumps(body).encode()) < MAX_REQUEST_BYTES


def test_changes_apply_only_on_the_version_they_were_made_for(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = CredentialStore(tmp_path)
        await store.snapshot(Snapshot(version=3, persons=[person("a"), person("b")],
                                      credentials=[card("1", "a"), card("2", "b")]))
        with pytest.raises(SyncError, match="version held is 3"):
            await store.changes(Changes(from_version=2, version=4))
        change = Changes(from_version=3, version=4, credentials=[card("1", "a",
                                                                       status="lost")],
                         remove_persons=["b"], persons=[person("c", "staff")],
                         )
        applied = await store.changes(change)
        assert applied.version == 4 and store.holder("1").status == "lost"
        assert store.holder("2") is None
        assert (await store.changes(change)).already
        # a credential naming nobody: refused whole, nothing written
        with pytest.raises(SyncError, match="name no person"):
            await store.changes(Changes(from_version=4, version=5, persons=[person("d")],
                                        credentials=[card("9", "nobody")]))
        assert store.version == 4 and store.person("d") is None
        store.close()
        reopened = CredentialStore(tmp_path)
        assert reopened.version == 4
        reopened.close()

    run(scenario())


def test_a_hundred_thousand_credentials_decide_like_ten(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = CredentialStore(tmp_path)
        people = [person(f"p{n}") for n in range(100_000)]
        cards = [card(str(10_000_000 + n), f"p{n}") for n in range(100_000)]
        await store.snapshot(Snapshot(version=1, persons=people, credentials=cards))
        assert store.counts() == (100_000, 100_000)
        assert store.holder("10099999").person_id == "p99999"
        assert store.holder("10000000").person_id == "p0"
        assert store.holder("99") is None
        store.close()

    run(scenario())


def test_import_files_name_the_line_that_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "cards.csv"
    good.write_text("person_id,category,code,name,gates\n"
                    "s1,student,1001,,main-gate;east-gate\n"
                    "s1,student,1002,,\n"
                    "t1,staff,2001,Ms Chen,\n", encoding="utf-8")
    persons, credentials = read_import_file(good)
    assert [p.id for p in persons] == ["s1", "t1"]
    assert persons[0].gates == ["main-gate", "east-gate"]
    assert [c.code for c in credentials] == ["1001", "1002", "2001"]
    bad = tmp_path / "bad.csv"
    bad.write_text("person_id,category,code\ns1,student,1001\ns2,pupil,1002\n")
    with pytest.raises(SyncError, match=r"bad.csv: line 3: category"):
        read_import_file(bad)
    header = tmp_path / "header.csv"
    header.write_text("id,code\n")
    with pytest.raises(SyncError, match="header must name"):
        read_import_file(header)
    broken = tmp_path / "broken.json"
    broken.write_text('{"persons": [}')
    with pytest.raises(SyncError, match=r"broken\.json is not JSON: .* at char 13"):
        read_import_file(broken)
