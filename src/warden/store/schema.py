"""DuckDB tables: one row per fact, keys deterministic so a retried step upserts."""

from __future__ import annotations

from typing import Any

__all__ = ["DDL", "SCHEMA_VERSION", "upgrade"]

SCHEMA_VERSION = 7
"""1: the first schema. 2: audit_events carries a hash chain per tenant (chain_no, prev_hash,
hash; UNIQUE (tenant, chain_no)) and run_id/root_run_id may be null (tenant-level events).
3: the approval queue (one row per approval requested, with its SLA), the notification outbox,
comment threads on runs; findings carry a fingerprint and an evidence hash (computed on upsert;
older rows are computed when read), and the triage table holds each tenant's triage by
fingerprint (new tables and columns: older files gain them on their first read-write open).
4: each sign-in attempt has an id (reserved as a failure before the password is checked, marked
ok after), and ``tree_hosts`` records which state directory (host) drives each run tree on a
ledger several hosts share (new table and column, as for 3).
5: ``host_beats``: the heartbeat of each live Warden process of each host on a ledger several
hosts share (a take-over checks that the tree's host is silent; a claim's claimant on another
machine is alive while its process beats).
6: ``run_documents.name``: each run names its documents as its own request did. A document is
stored once by its sha256 for every tenant (``documents``), so its ``documents.name`` (and the
name in ``document_json``) would be the first uploader's: it is the document's id, and never
shown. Older rows are named from their run's ``documents_ingested`` event, else from
``documents.name`` (then set to the id), on the first read-write open (``upgrade``).
7: ``sessions.issuer``: the issuer of the OIDC provider that vouched for an OIDC session, so a
policy that names another provider ends the sessions the old one vouched for (a new nullable
column: older sessions have none, so their OIDC ones end and sign in again; password sessions
never use it)."""

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY,
        root_run_id VARCHAR NOT NULL,
        parent_run_id VARCHAR,
        parent_step_id VARCHAR,
        depth INTEGER NOT NULL,
        thread_id VARCHAR NOT NULL,
        checkpoint_ns VARCHAR,
        tenant VARCHAR NOT NULL,
        requester VARCHAR NOT NULL,
        runbook VARCHAR,
        runbook_version INTEGER,
        runbook_sha256 VARCHAR,
        status VARCHAR NOT NULL,
        status_reason VARCHAR,
        claimed_by VARCHAR,
        cost_usd DOUBLE NOT NULL DEFAULT 0,
        duration_s DOUBLE NOT NULL DEFAULT 0,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS steps (
        run_id VARCHAR NOT NULL,
        step_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        analyser VARCHAR,
        system_id VARCHAR,
        status VARCHAR NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        started_at TIMESTAMP,
        finished_at TIMESTAMP,
        duration_s DOUBLE,
        output_schema VARCHAR,
        output_json VARCHAR,
        error VARCHAR,
        child_run_id VARCHAR,
        PRIMARY KEY (run_id, step_id)
    )""",
    """CREATE TABLE IF NOT EXISTS findings (
        run_id VARCHAR NOT NULL,
        finding_id VARCHAR NOT NULL,
        root_run_id VARCHAR NOT NULL,
        step_id VARCHAR NOT NULL,
        tenant VARCHAR NOT NULL,
        analyser VARCHAR NOT NULL,
        code VARCHAR NOT NULL,
        title VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        message VARCHAR NOT NULL,
        article VARCHAR,
        data_category VARCHAR,
        system_id VARCHAR,
        evidence_json VARCHAR NOT NULL,
        details_json VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (run_id, finding_id)
    )""",
    """CREATE TABLE IF NOT EXISTS runbook_versions (
        tenant VARCHAR NOT NULL,
        runbook VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        version_no INTEGER NOT NULL,
        declared_version INTEGER NOT NULL,
        definition_json VARCHAR NOT NULL,
        first_run_id VARCHAR NOT NULL,
        approved_at TIMESTAMP NOT NULL,
        approved_by VARCHAR NOT NULL,
        PRIMARY KEY (tenant, runbook, sha256)
    )""",
    """CREATE TABLE IF NOT EXISTS approvals (
        approval_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        root_run_id VARCHAR NOT NULL,
        tenant VARCHAR NOT NULL,
        decision VARCHAR NOT NULL,
        approver VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        auto_rule VARCHAR,
        runbook VARCHAR NOT NULL,
        runbook_version INTEGER,
        runbook_sha256 VARCHAR NOT NULL,
        policy_sha256 VARCHAR NOT NULL,
        comment VARCHAR,
        change_summary VARCHAR,
        validation_ok BOOLEAN NOT NULL,
        validation_json VARCHAR NOT NULL,
        model_json VARCHAR,
        decided_at TIMESTAMP NOT NULL
    )""",
    """CREATE SEQUENCE IF NOT EXISTS audit_seq START 1""",
    """CREATE TABLE IF NOT EXISTS audit_events (
        seq BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'),
        event_key VARCHAR UNIQUE,
        run_id VARCHAR,
        root_run_id VARCHAR,
        tenant VARCHAR NOT NULL,
        "at" TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        event VARCHAR NOT NULL,
        payload_json VARCHAR NOT NULL,
        chain_no BIGINT,
        prev_hash VARCHAR,
        hash VARCHAR
    )""",
    # schema 1 files: the chain columns arrive empty (their rows are unchained legacy events)
    """ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS chain_no BIGINT""",
    """ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS prev_hash VARCHAR""",
    """ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS hash VARCHAR""",
    """CREATE TABLE IF NOT EXISTS cost_ledger (
        entry_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        root_run_id VARCHAR NOT NULL,
        step_id VARCHAR,
        kind VARCHAR NOT NULL,
        model VARCHAR,
        tokens_in BIGINT NOT NULL DEFAULT 0,
        tokens_out BIGINT NOT NULL DEFAULT 0,
        amount_usd DOUBLE NOT NULL,
        "at" TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS llm_calls (
        call_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        root_run_id VARCHAR NOT NULL,
        step_id VARCHAR,
        seq INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        request_hash VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        purpose VARCHAR NOT NULL,
        messages_json VARCHAR NOT NULL,
        params_json VARCHAR NOT NULL,
        max_tokens INTEGER NOT NULL,
        temperature DOUBLE NOT NULL,
        response_json VARCHAR,
        outcome VARCHAR NOT NULL,
        error VARCHAR,
        tokens_in BIGINT NOT NULL DEFAULT 0,
        tokens_out BIGINT NOT NULL DEFAULT 0,
        cost_usd DOUBLE NOT NULL DEFAULT 0,
        latency_s DOUBLE NOT NULL,
        replayed BOOLEAN NOT NULL DEFAULT false,
        "at" TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS documents (
        document_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        pages INTEGER,
        text_chars BIGINT NOT NULL,
        passages INTEGER NOT NULL,
        stored_at TIMESTAMP NOT NULL,
        document_json VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS passages (
        document_id VARCHAR NOT NULL,
        passage_id VARCHAR NOT NULL,
        idx INTEGER NOT NULL,
        text VARCHAR NOT NULL,
        headings_json VARCHAR NOT NULL,
        page INTEGER,
        start_offset BIGINT NOT NULL,
        end_offset BIGINT NOT NULL,
        PRIMARY KEY (document_id, passage_id)
    )""",
    """CREATE TABLE IF NOT EXISTS run_documents (
        run_id VARCHAR NOT NULL,
        document_id VARCHAR NOT NULL,
        PRIMARY KEY (run_id, document_id)
    )""",
    # version 6: the name the run's own request gave the document (not the first uploader's)
    """ALTER TABLE run_documents ADD COLUMN IF NOT EXISTS name VARCHAR""",
    """CREATE TABLE IF NOT EXISTS policies (
        sha256 VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        base_dir VARCHAR NOT NULL,
        text VARCHAR NOT NULL,
        stored_at TIMESTAMP NOT NULL
    )""",
    """CREATE SEQUENCE IF NOT EXISTS policy_seq START 1""",
    """CREATE TABLE IF NOT EXISTS policy_applications (
        seq BIGINT PRIMARY KEY DEFAULT nextval('policy_seq'),
        sha256 VARCHAR NOT NULL,
        applied_by VARCHAR NOT NULL,
        auth VARCHAR NOT NULL,
        reason VARCHAR,
        applied_at TIMESTAMP NOT NULL
    )""",
    # version 2: a run is bound to the policy it was requested under
    """ALTER TABLE runs ADD COLUMN IF NOT EXISTS policy_sha256 VARCHAR""",
    """ALTER TABLE runs ADD COLUMN IF NOT EXISTS request_json VARCHAR""",
    """ALTER TABLE approvals ADD COLUMN IF NOT EXISTS auth VARCHAR""",
    # version 3: the approval queue, the notification outbox, comments
    """CREATE TABLE IF NOT EXISTS approval_queue (
        run_id VARCHAR PRIMARY KEY,
        root_run_id VARCHAR NOT NULL,
        tenant VARCHAR NOT NULL,
        required_role VARCHAR NOT NULL,
        requester VARCHAR NOT NULL,
        requested_at TIMESTAMP NOT NULL,
        runbook VARCHAR NOT NULL,
        runbook_sha256 VARCHAR NOT NULL,
        policy_sha256 VARCHAR,
        cost_estimate_usd DOUBLE NOT NULL DEFAULT 0,
        guard_ok BOOLEAN NOT NULL DEFAULT true,
        guard_warnings INTEGER NOT NULL DEFAULT 0,
        guard_errors INTEGER NOT NULL DEFAULT 0,
        depth INTEGER NOT NULL DEFAULT 0,
        document VARCHAR,
        sla_s BIGINT,
        due_at TIMESTAMP,
        escalate_to VARCHAR,
        escalated_at TIMESTAMP,
        decided_at TIMESTAMP,
        outcome VARCHAR,
        decided_by VARCHAR
    )""",
    """CREATE INDEX IF NOT EXISTS approval_queue_inbox ON approval_queue (tenant, required_role)""",
    """CREATE INDEX IF NOT EXISTS approval_queue_root ON approval_queue (root_run_id)""",
    """CREATE TABLE IF NOT EXISTS notifications (
        notification_id VARCHAR PRIMARY KEY,
        tenant VARCHAR NOT NULL,
        event VARCHAR NOT NULL,
        run_id VARCHAR,
        root_run_id VARCHAR,
        channel VARCHAR NOT NULL,
        recipient VARCHAR,
        address VARCHAR,
        policy_sha256 VARCHAR,
        payload_json VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TIMESTAMP NOT NULL,
        last_error VARCHAR,
        created_at TIMESTAMP NOT NULL,
        sent_at TIMESTAMP
    )""",
    """CREATE INDEX IF NOT EXISTS notifications_run ON notifications (run_id)""",
    """CREATE SEQUENCE IF NOT EXISTS comment_seq START 1""",
    """CREATE TABLE IF NOT EXISTS comments (
        seq BIGINT PRIMARY KEY DEFAULT nextval('comment_seq'),
        comment_id VARCHAR UNIQUE NOT NULL,
        run_id VARCHAR NOT NULL,
        root_run_id VARCHAR NOT NULL,
        tenant VARCHAR NOT NULL,
        author VARCHAR NOT NULL,
        auth VARCHAR NOT NULL,
        text VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS comments_run ON comments (run_id)""",
    # version 3: triage that sticks across runs (store/triage.py, store/fingerprints.py)
    """ALTER TABLE findings ADD COLUMN IF NOT EXISTS fingerprint VARCHAR""",
    """ALTER TABLE findings ADD COLUMN IF NOT EXISTS evidence_hash VARCHAR""",
    """CREATE TABLE IF NOT EXISTS triage (
        tenant VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        state VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        who VARCHAR NOT NULL,
        auth VARCHAR NOT NULL,
        "at" TIMESTAMP NOT NULL,
        evidence_hash VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        finding_id VARCHAR NOT NULL,
        PRIMARY KEY (tenant, fingerprint)
    )""",
    """CREATE INDEX IF NOT EXISTS findings_root ON findings (root_run_id)""",
    """CREATE INDEX IF NOT EXISTS runs_root ON runs (root_run_id)""",
    """CREATE INDEX IF NOT EXISTS audit_root ON audit_events (root_run_id)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS audit_chain ON audit_events (tenant, chain_no)""",
    """CREATE INDEX IF NOT EXISTS llm_calls_root ON llm_calls (root_run_id)""",
    # the server's local accounts and credentials (new tables only: no upgrade step needed);
    # secrets are stored as argon2 hashes (passwords) or SHA-256 digests (tokens, session ids)
    """CREATE TABLE IF NOT EXISTS accounts (
        "user" VARCHAR PRIMARY KEY,
        tenant VARCHAR,
        password_hash VARCHAR,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        disabled BOOLEAN NOT NULL DEFAULT FALSE
    )""",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        token_id VARCHAR PRIMARY KEY,
        "user" VARCHAR NOT NULL,
        secret_sha256 VARCHAR NOT NULL UNIQUE,
        created_at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP,
        revoked_at TIMESTAMP,
        last_used_at TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS sessions (
        session_sha256 VARCHAR PRIMARY KEY,
        "user" VARCHAR NOT NULL,
        csrf VARCHAR NOT NULL,
        auth VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP NOT NULL,
        ended_at TIMESTAMP
    )""",
    # version 7: the provider (its issuer) that vouched for an OIDC session
    """ALTER TABLE sessions ADD COLUMN IF NOT EXISTS issuer VARCHAR""",
    """CREATE TABLE IF NOT EXISTS sign_in_attempts (
        "user" VARCHAR NOT NULL,
        client VARCHAR NOT NULL,
        "at" TIMESTAMP NOT NULL,
        ok BOOLEAN NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS sign_in_attempts_user ON sign_in_attempts ("user", client)""",
    # an attempt is recorded as failed before its password is checked, and marked ok after
    """ALTER TABLE sign_in_attempts ADD COLUMN IF NOT EXISTS attempt_id VARCHAR""",
    # one row per user (client '') that every reservation of an attempt writes first: two
    # reservations at once on DuckDB (threads of one process) conflict instead of both counting
    # (rows with a client are from before reservations were serialised per user; pruned)
    """CREATE TABLE IF NOT EXISTS sign_in_guards (
        "user" VARCHAR NOT NULL,
        client VARCHAR NOT NULL,
        touched_at TIMESTAMP NOT NULL,
        PRIMARY KEY ("user", client)
    )""",
    # the state directory (host) whose embedded engine keeps each tree's checkpoints: on a ledger
    # several hosts share, only that host may resume the tree (or one that took it over)
    """CREATE TABLE IF NOT EXISTS tree_hosts (
        root_run_id VARCHAR PRIMARY KEY,
        host VARCHAR NOT NULL,
        hostname VARCHAR NOT NULL,
        home VARCHAR NOT NULL,
        recorded_at TIMESTAMP NOT NULL,
        taken_over_at TIMESTAMP
    )""",
    # one row per live process of a host (its state directory) on a ledger several hosts share,
    # renewed every beat_s seconds and deleted when the process stops cleanly: a host whose rows
    # are all older than their liveness window (service/liveness.py) has no live process
    """CREATE TABLE IF NOT EXISTS host_beats (
        host VARCHAR NOT NULL,
        process VARCHAR NOT NULL,
        hostname VARCHAR NOT NULL,
        home VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        beat_s DOUBLE NOT NULL,
        started_at TIMESTAMP NOT NULL,
        last_seen TIMESTAMP NOT NULL,
        PRIMARY KEY (host, process)
    )""",
    """CREATE INDEX IF NOT EXISTS host_beats_process ON host_beats (process)""",
    # OIDC sign-ins begun and not yet come back: the state only as its SHA-256, used once
    """CREATE TABLE IF NOT EXISTS oidc_requests (
        state_sha256 VARCHAR PRIMARY KEY,
        nonce VARCHAR NOT NULL,
        code_verifier VARCHAR NOT NULL,
        redirect_uri VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP NOT NULL,
        used_at TIMESTAMP
    )""",
)


def upgrade(con: Any) -> None:
    """Changes DDL cannot make idempotently, run after it on every read-write open (cheap when done).

    Schema 1 declared ``audit_events.run_id`` and ``root_run_id`` NOT NULL; tenant-level events
    (a policy applied, the kill switch engaged) have no run. DuckDB refuses to alter a column
    of a table that has indexes, so the two indexes are dropped and rebuilt around the change,
    once: the check reads the catalogue and finds nothing to do afterwards.

    Schema 6 names each run's documents (``run_documents.name``): see ``_name_run_documents``.
    """
    _name_run_documents(con)
    nullable = con.execute(
        """SELECT is_nullable FROM information_schema.columns
           WHERE table_name = 'audit_events' AND column_name = 'run_id'"""
    ).fetchone()
    if nullable is None or nullable[0] == "YES":
        return
    con.execute("DROP INDEX IF EXISTS audit_root")
    con.execute("DROP INDEX IF EXISTS audit_chain")
    con.execute("ALTER TABLE audit_events ALTER COLUMN run_id DROP NOT NULL")
    con.execute("ALTER TABLE audit_events ALTER COLUMN root_run_id DROP NOT NULL")
    con.execute("CREATE INDEX IF NOT EXISTS audit_root ON audit_events (root_run_id)")
    con.execute("CREATE UNIQUE INDEX IF NOT EXISTS audit_chain ON audit_events (tenant, chain_no)")


def _name_run_documents(con: Any) -> None:
    """Fill ``run_documents.name`` of rows older than schema 6: the name the run's own
    ``documents_ingested`` event recorded, else (a run that linked another's documents, or
    no event) ``documents.name``. Nothing to do (one cheap query) once every row is named."""
    import json

    missing = con.execute(
        """SELECT rd.run_id, rd.document_id, d.name FROM run_documents rd
           JOIN documents d USING (document_id) WHERE rd.name IS NULL"""
    ).fetchall()
    if not missing:
        return
    ingested: dict[tuple[str, str], str] = {}
    for run_id, payload in con.execute(
        """SELECT run_id, payload_json FROM audit_events WHERE event = 'documents_ingested'
           AND run_id IN (SELECT run_id FROM run_documents WHERE name IS NULL) ORDER BY seq"""
    ).fetchall():
        try:
            listed = json.loads(payload or "{}").get("documents") or []
        except (ValueError, AttributeError):
            continue
        for d in listed:
            if isinstance(d, dict) and d.get("id") and d.get("name"):
                ingested.setdefault((str(run_id), str(d["id"])), str(d["name"]))
    for run_id, document_id, shared in missing:
        con.execute(
            "UPDATE run_documents SET name = ? WHERE run_id = ? AND document_id = ?",
            [ingested.get((run_id, document_id), shared), run_id, document_id],
        )
    # the shared rows keep nothing of their first uploader (``document_json`` is renamed when read)
    con.execute("UPDATE documents SET name = document_id WHERE name <> document_id")
