"""Which execution engine a service drives: $WARDEN_ENGINE names it (embedded by default)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from warden.errors import UsageError, WardenError
from warden.graph.engine import EmbeddedEngine, Engine
from warden.graph.temporal.settings import ENGINE_ENV, TemporalSettings
from warden.service.driving import DriverLeases, LeasedEngine

__all__ = ["ENGINES", "engine_for", "engine_report", "temporal_sdk_missing"]

ENGINES = ("embedded", "temporal")


def temporal_sdk_missing(who: str, exc: ImportError) -> UsageError:
    """The coded refusal when `who` (the engine setting, `warden worker`) needs the Temporal
    SDK, an optional extra, and importing it failed with `exc`."""
    return UsageError(
        f"{who} needs the Temporal SDK, which is not installed ({exc.name})",
        fix="pip install 'warden[temporal]'",
        code="engine_missing",
    )


def engine_for(home: Path, leases: DriverLeases | None = None) -> Engine:
    """The engine $WARDEN_ENGINE names: `embedded` (the default; under the state directory's
    driver `leases` when given) or `temporal`."""
    name = (os.environ.get(ENGINE_ENV) or "embedded").strip().lower()
    if name == "embedded":
        checkpoints = home / "checkpoints.sqlite"
        return EmbeddedEngine(checkpoints) if leases is None else LeasedEngine(checkpoints, leases)
    if name == "temporal":
        try:
            from warden.graph.temporal.engine import TemporalEngine
        except ImportError as exc:  # the SDK is an extra: the embedded engine does not need it
            raise temporal_sdk_missing(f"{ENGINE_ENV}=temporal", exc) from None
        return TemporalEngine(TemporalSettings.from_env())
    raise UsageError(
        f"{ENGINE_ENV}={name!r}: unknown engine",
        fix="set it to one of: " + ", ".join(ENGINES),
        code="bad_engine",
    )


def engine_report(home: Path, *, check: bool = True) -> dict[str, Any]:
    """For `warden doctor`: the engine $WARDEN_ENGINE names and the store it records into, and
    (with `check`) whether each answers: ``ok``, ``detail``, and a ``code`` and ``fix`` when not."""
    from warden.service.liveness import beating
    from warden.store import Store

    name = (os.environ.get(ENGINE_ENV) or "embedded").strip().lower()
    report: dict[str, Any] = {"name": name, "ok": True, "detail": "not checked", "code": None, "fix": None}
    store: dict[str, Any]
    ledger: Store | None = None
    try:  # WARDEN_LEDGER_URL names the Postgres ledger; unset, the state directory's DuckDB file
        ledger = Store(home / "warden.duckdb", lock_timeout_s=10)
        store = {"ledger": ledger.backend, "path": ledger.where(), "ok": True, "detail": "not checked"}
        store["code"] = None
    except WardenError as exc:  # a URL that is not Postgres's, or no driver for it
        store = {"ledger": "postgres", "path": "WARDEN_LEDGER_URL", "ok": False, "detail": exc.message}
        store.update(code=exc.code, fix=exc.fix)
    engine = engine_for(home)  # an unknown engine, or a missing SDK, is bad configuration (raised)
    if name == "temporal":
        settings = TemporalSettings.from_env()
        report.update(address=settings.address, namespace=settings.namespace, task_queue=settings.task_queue)
    elif isinstance(engine, EmbeddedEngine):
        report["checkpoints"] = str(engine.checkpoint_path)
    if check:
        report.update(_check_engine(engine))
    if check and ledger is not None:
        if not ledger.exists():
            store["detail"] = "no store yet (the first run creates it)"
            store["beats"] = None  # (a DuckDB file: a Postgres ledger always exists)
        else:
            try:
                ledger.ping()
                store["detail"] = "opens and answers"
                store["beats"] = beating(ledger)
            except WardenError as exc:
                store.update(ok=False, detail=exc.message, code=exc.code, fix=exc.fix)
            finally:
                ledger.close()
    report["store"] = store
    return report


def _check_engine(engine: Engine) -> dict[str, Any]:
    if isinstance(engine, EmbeddedEngine):
        if not engine.checkpoint_path.exists():
            return {"ok": True, "detail": "no checkpoint file yet (the first run creates it)"}
        try:
            engine.open()
        except WardenError as exc:
            return {"ok": False, "detail": exc.message, "code": exc.code, "fix": exc.fix}
        return {"ok": True, "detail": "the checkpoint file opens"}
    from warden.graph.temporal.engine import TemporalEngine

    assert isinstance(engine, TemporalEngine)
    try:
        found = engine.check()
    except WardenError as exc:
        return {"ok": False, "detail": exc.message, "code": exc.code, "fix": exc.fix}
    pollers = found["pollers"]
    if not (pollers["workflow"] and pollers["activity"]):
        return {
            "ok": False,
            "pollers": pollers,
            "detail": f"the server answers, but no worker polls task queue '{found['task_queue']}'",
            "code": "no_workers",
            "fix": "start `warden worker` with the same WARDEN_TEMPORAL_* settings (or `warden cluster up`)",
        }
    return {
        "ok": True,
        "pollers": pollers,
        "detail": f"the server answers; {pollers['activity']} worker(s) poll '{found['task_queue']}'",
    }
