"""The operators database: a new password or a disable raises the operator's generation (what
the console compares at every request), a language change does not, and a database from before
generations gains the column on first use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.console.operators import ConsoleOperators


def test_password_and_disable_raise_the_generation_and_language_does_not(tmp_path: Path) -> None:
    store = ConsoleOperators(tmp_path / "operators.sqlite3")
    store.add("guard1", "guard", "guard-password-1")
    first = store.generation("guard1")
    assert first is not None
    store.set_language("guard1", "en")
    assert store.generation("guard1") == first
    other = ConsoleOperators(tmp_path / "operators.sqlite3")  # the command line, meanwhile
    other.set_password("guard1", "guard-password-2")
    assert store.generation("guard1") == first + 1
    other.set_disabled("guard1", True)
    assert store.generation("guard1") is None  # disabled: no session holds
    other.set_disabled("guard1", False)  # enabled again: sessions from before stay ended
    assert store.generation("guard1") == first + 2
    operator = store.verify("guard1", "guard-password-2")
    assert operator is not None and operator.generation == first + 2
    assert store.generation("nobody") is None


def test_a_database_from_before_generations_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "operators.sqlite3"
    ConsoleOperators(tmp_path / "reference.sqlite3").add("x", "guard", "x-password-1")
    hashed = sqlite3.connect(tmp_path / "reference.sqlite3").execute(
        "SELECT hash FROM operators").fetchone()[0]
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE operators (name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT"
                " NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, language TEXT, changed REAL"
                " NOT NULL)")
    old.execute("INSERT INTO operators VALUES ('guard1', 'guard', ?, 0, NULL, 0)", (hashed,))
    old.commit()
    old.close()
    store = ConsoleOperators(path)
    assert store.generation("guard1") == 0
    assert store.verify("guard1", "x-password-1") is not None
