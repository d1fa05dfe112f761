"""A snapshot of the ledger as a DuckDB file with the same schema, for investigators.

Notebooks and :mod:`warden.investigate` read a DuckDB file; when the ledger is in Postgres
(several hosts write it), ``warden ledger export --to FILE.duckdb`` copies every table, read in
one REPEATABLE READ transaction (one consistent snapshot while workers keep writing), into a
new file created from the same DDL. The sequences start after the copied rows, so the file can
be written afterwards without key clashes. The export never changes the ledger.

Left out (their tables are there, empty): the decision key (a secret), and live sign-in state,
whose values would let whoever holds the file finish a sign-in or ride a session:
:data:`LEFT_OUT` (OIDC PKCE verifiers and nonces, session CSRF tokens, sign-in attempts and
throttles). Nothing an investigation reads is among them.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from warden.errors import UsageError
from warden.store._util import insert_rows
from warden.store.keys import DECISION_KEY

__all__ = ["EXPORT_CHUNK", "LEFT_OUT", "export_to_duckdb", "refuse_existing"]

EXPORT_CHUNK = 5_000
"""Rows per insert into the export file (one statement each: see ``insert_rows``)."""

LEFT_OUT = ("oidc_requests", "sessions", "sign_in_attempts", "sign_in_guards")
"""Tables whose rows the snapshot leaves out: live sign-in secrets, of no use to an investigator."""

_SEQUENCE = re.compile(r"CREATE SEQUENCE IF NOT EXISTS (\w+) START 1")
_SEQ_COLUMN = re.compile(r"(\w+)\s*\(\s*seq BIGINT PRIMARY KEY DEFAULT nextval\('(\w+)'\)", re.S)


def export_to_duckdb(source: Any, target: str | Path) -> dict[str, int]:
    """Copy every table of `source` (a :class:`~warden.store.Store`, Postgres or DuckDB) into a
    new DuckDB file at `target`; the rows copied per table. An existing `target` is refused
    (an export is a snapshot of one moment: never merged into an older one)."""
    import duckdb

    target = Path(target)
    refuse_existing(target)
    partial = target.with_name(target.name + ".partial")
    leftovers = (partial, partial.with_name(partial.name + ".wal"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        counts = _copy(source, partial)
        partial.replace(target)
    except (OSError, duckdb.IOException) as exc:
        # a folder that is a file, no permission, a full disk: a coded error, nothing half-written
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise UsageError(
            f"cannot write the export to {target}: {reason}",
            fix="name a new file in a folder you can write to (not under a file)",
            code="write_failed",
        ) from None
    return counts


def refuse_existing(target: Path) -> None:
    """An export never overwrites or merges into what is at `target` (checked before the
    export is audited, so a refused one records nothing)."""
    if target.exists() or target.with_name(target.name + ".wal").exists():
        raise UsageError(
            f"{target} exists already",
            fix="name a new file (an export is a snapshot: it is never merged into an older one)",
            code="export_exists",
        )


def _copy(source: Any, partial: Path) -> dict[str, int]:
    """Create `partial` from the DDL and copy every table of `source` into it; rows per table."""
    import duckdb

    from warden.store.schema import DDL, SCHEMA_VERSION, upgrade

    counts: dict[str, int] = {}
    with source.connect(read_only=True) as src:
        tables = _tables(DDL)
        starts = {
            seq: int(src.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()[0]) + 1
            for table, seq in _SEQ_COLUMN.findall("\n".join(DDL))
        }
        out = duckdb.connect(str(partial))
        try:
            for statement in DDL:
                found = _SEQUENCE.search(statement)
                if found is not None:  # the sequence goes on after the copied rows
                    name = found.group(1)
                    statement = f"CREATE SEQUENCE IF NOT EXISTS {name} START {starts.get(name, 1)}"
                out.execute(statement)
            upgrade(out)
            out.execute("BEGIN TRANSACTION")
            for table in tables:
                columns = {
                    f'"{name}"': kind
                    for name, kind in out.execute(
                        """SELECT column_name, data_type FROM information_schema.columns
                           WHERE table_name = ? ORDER BY ordinal_position""",
                        [table],
                    ).fetchall()
                }
                if table in LEFT_OUT:
                    counts[table] = 0
                    continue
                result = src.execute(f"SELECT {', '.join(columns)} FROM {table}")
                found_rows = [list(r) for r in result.fetchall()]
                if table == "meta":  # the export is at this code's schema version, keyless
                    found_rows = [r for r in found_rows if r[0] not in ("schema_version", DECISION_KEY)]
                    found_rows.append(["schema_version", str(SCHEMA_VERSION)])
                for at in range(0, len(found_rows), EXPORT_CHUNK):
                    insert_rows(out, table, columns, found_rows[at : at + EXPORT_CHUNK])
                counts[table] = len(found_rows)
            out.execute("COMMIT")
            out.execute("CHECKPOINT")
        finally:
            out.close()
    return counts


def _tables(ddl: tuple[str, ...]) -> list[str]:
    names = [m.group(1) for s in ddl if (m := re.match(r"\s*CREATE TABLE IF NOT EXISTS (\w+)", s))]
    return list(dict.fromkeys(names))
