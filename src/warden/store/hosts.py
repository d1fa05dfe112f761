"""Which host drives each run tree, on a ledger several hosts share.

The embedded engine keeps a tree's checkpoints in the state directory of the host that recorded
it; only that host can resume it from them. A row per tree names that host (an id kept in its
state directory, with its hostname and the directory's path for people), until an
administrator hands the tree over to another host whose first one is gone for good. Who may, and
when, is the service's business (service/resuming.py); these functions only read and write rows.

``host_beats`` holds the heartbeat of each live Warden process of a host: a row per process
(``hostname:pid``), renewed at its interval and deleted when the process stops cleanly. What
counts as alive (the window) is the service's (service/liveness.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from warden.store._util import now, rows

__all__ = [
    "all_beats",
    "beat",
    "beats_of_host",
    "beats_of_process",
    "end_beat",
    "fence",
    "hand_over",
    "host_of",
    "hosts_of",
    "record_host",
]


_BEAT_COLUMNS = "host, process, hostname, home, kind, beat_s, started_at, last_seen"
"""What a heartbeat row holds, as every reader of `host_beats` returns it."""


def record_host(con: Any, root_run_id: str, host: str, hostname: str, home: str) -> None:
    """Name the host that recorded a tree (a tree named already keeps its host)."""
    con.execute(
        """INSERT INTO tree_hosts (root_run_id, host, hostname, home, recorded_at)
           VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [root_run_id, host, hostname, home, now()],
    )


def host_of(con: Any, root_run_id: str) -> dict[str, Any] | None:
    """The row naming the host of a tree; None for a tree no host was named for (recorded on
    DuckDB, by a Temporal engine, or before hosts were recorded)."""
    found = rows(con.execute("SELECT * FROM tree_hosts WHERE root_run_id = ?", [root_run_id]))
    return found[0] if found else None


def fence(con: Any, root_run_id: str) -> dict[str, Any] | None:
    """The row naming the tree's host, locked (``FOR SHARE``) until `con`'s transaction ends, so
    a take-over's UPDATE of it (:func:`hand_over`) waits for that transaction, or this read
    waits for the take-over: a drive's write and a take-over never interleave. Postgres only."""
    found = rows(
        con.execute(
            "SELECT host, hostname, home, taken_over_at FROM tree_hosts WHERE root_run_id = ? FOR SHARE",
            [root_run_id],
        )
    )
    return found[0] if found else None


def hosts_of(con: Any, root_run_ids: Iterable[str]) -> dict[str, str]:
    """The host id of each of the trees that has one named."""
    wanted = sorted(set(root_run_ids))
    if not wanted:
        return {}
    marks = ", ".join("?" for _ in wanted)
    found = con.execute(
        f"SELECT root_run_id, host FROM tree_hosts WHERE root_run_id IN ({marks})", wanted
    ).fetchall()
    return {str(root): str(host) for root, host in found}


def hand_over(
    con: Any, root_run_id: str, *, previous: str | None, host: str, hostname: str, home: str
) -> bool:
    """Make `host` the tree's host, if `previous` still is (None: no host was named): False when
    another host was named meanwhile (another take-over won)."""
    at = now()
    if previous is None:
        cur = con.execute(
            """INSERT INTO tree_hosts (root_run_id, host, hostname, home, recorded_at, taken_over_at)
               VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [root_run_id, host, hostname, home, at, at],
        )
    else:
        cur = con.execute(
            """UPDATE tree_hosts SET host = ?, hostname = ?, home = ?, taken_over_at = ?
               WHERE root_run_id = ? AND host = ?""",
            [host, hostname, home, at, root_run_id, previous],
        )
    return bool(cur.fetchone()[0])


def beat(con: Any, host: str, process: str, *, hostname: str, home: str, kind: str, beat_s: float) -> None:
    """Record that `process` (``hostname:pid``) of `host` is alive now, renewing its row."""
    at = now()
    con.execute(
        """INSERT INTO host_beats (host, process, hostname, home, kind, beat_s, started_at, last_seen)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (host, process) DO UPDATE
           SET last_seen = excluded.last_seen, beat_s = excluded.beat_s, kind = excluded.kind""",
        [host, process, hostname, home, kind, beat_s, at, at],
    )


def end_beat(con: Any, host: str, process: str) -> None:
    """A process that stops cleanly: its row goes (the host is silent at once if it was the last)."""
    con.execute("DELETE FROM host_beats WHERE host = ? AND process = ?", [host, process])


def beats_of_host(con: Any, host: str) -> list[dict[str, Any]]:
    """The heartbeat rows of a host's processes, the newest first."""
    return rows(
        con.execute(
            f"""SELECT {_BEAT_COLUMNS}
               FROM host_beats WHERE host = ? ORDER BY last_seen DESC, process""",
            [host],
        )
    )


def all_beats(con: Any) -> list[dict[str, Any]]:
    """Every heartbeat row, by host and the newest first (what `warden doctor` lists)."""
    return rows(
        con.execute(
            f"""SELECT {_BEAT_COLUMNS}
               FROM host_beats ORDER BY host, last_seen DESC, process"""
        )
    )


def beats_of_process(con: Any, process: str) -> list[dict[str, Any]]:
    """The heartbeat rows of one process (``hostname:pid``; one per host it beats for), newest first."""
    return rows(
        con.execute(
            f"""SELECT {_BEAT_COLUMNS}
               FROM host_beats WHERE process = ? ORDER BY last_seen DESC, host""",
            [process],
        )
    )
