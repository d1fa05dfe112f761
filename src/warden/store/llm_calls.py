"""Every attempt at every model call: the record behind cost figures and ``warden replay``."""

from __future__ import annotations

import json
from typing import Any

from warden.store._util import now, rows, scrub, to_json

__all__ = ["calls_of_tree", "insert_call"]


def insert_call(
    con: Any,
    *,
    call_id: str,
    run_id: str,
    root_run_id: str,
    step_id: str | None,
    record: Any,
) -> None:
    """Store one :class:`~warden.llm.session.CallRecord` (idempotent by ``call_id``). Credentials
    are masked in the error and, through ``to_json``, in the messages, parameters and response."""
    con.execute(
        """INSERT INTO llm_calls (call_id, run_id, root_run_id, step_id, seq, attempt, request_hash, model,
               purpose, messages_json, params_json, max_tokens, temperature, response_json, outcome, error,
               tokens_in, tokens_out, cost_usd, latency_s, replayed, "at")
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING""",
        [
            call_id,
            run_id,
            root_run_id,
            step_id,
            record.seq,
            record.attempt,
            record.request_hash,
            record.model,
            record.purpose,
            to_json(record.messages),
            to_json(record.params),
            record.max_tokens,
            record.temperature,
            to_json(record.response) if record.response is not None else None,
            record.outcome,
            scrub(record.error) if record.error else record.error,
            record.tokens_in,
            record.tokens_out,
            record.cost_usd,
            record.latency_s,
            record.replayed,
            now(),
        ],
    )


def calls_of_tree(con: Any, root_run_id: str) -> list[dict[str, Any]]:
    """The tree's calls in the order they were made, JSON columns decoded."""
    found = rows(
        con.execute("""SELECT * FROM llm_calls WHERE root_run_id = ? ORDER BY "at", call_id""", [root_run_id])
    )
    for row in found:
        row["messages"] = json.loads(row.pop("messages_json"))
        row["params"] = json.loads(row.pop("params_json"))
        raw = row.pop("response_json")
        row["response"] = json.loads(raw) if raw is not None else None
    return found
