"""The server under load, over loopback HTTP (real uvicorn, DuckDB and SQLite files):

    python bench/bench_server.py [--pending 10000] [--page-runs 100] [--runs 200] [--approvers 50]
                                 [--contenders 5] [--uploads 5]

1. The inbox page (HTML, first page of 50, oldest first) of Acme's approver with `--pending`
   approvals waiting (seeded through `store.approval_queue.insert_many`, as bench_inbox.py does):
   p50/p95 over `--page-runs` requests. Goal: p95 under 100 ms.
2. `--approvers` approvers (each a user with role dpo and an API token) deciding `--runs` waiting
   runs at once: every run gets `--contenders` approve requests from different approvers, all
   requests shuffled over `--approvers` threads. Counts answers (200 won, 409 lost, anything else
   an error) and approval rows per run once the background work settled. Goal: 0 errors, each
   approval executed exactly once.
3. A 10-page PDF notice uploaded (POST /api/runs) until its run waits for approval, `--uploads`
   times. Goal: under 2 s.

Not a timed test: it prints figures (docs/PERFORMANCE.md records them with this command).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))
sys.path.insert(0, str(ROOT / "bench"))

from _queue_helpers import free_port, policy_copy  # noqa: E402
from bench_inbox import fill  # noqa: E402

from warden.server import create_app  # noqa: E402
from warden.service.starting import builtin_runbook  # noqa: E402
from warden.testing import pdf_escape, simple_pdf  # noqa: E402

PASSWORD = "bench password 1234"
NOTICE = ROOT / "fixtures" / "acme" / "notice.md"


@contextmanager
def serving(app: Any) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=120)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- 1. the inbox page --------------------------------------------------------------------------


def inbox_page(tmp: Path, pending: int, runs: int) -> None:
    policy = policy_copy(tmp / "policy-inbox", sla="48h", escalate_to="admin")
    app = create_app(tmp / "home-inbox", policy=policy, workers=1, escalate_every_s=None)
    svc = app.state.service
    started = time.perf_counter()
    fill(svc, pending, 0, span_h=50.0)
    svc.accounts.add_user("dora@acme", "acme", PASSWORD)
    session = svc.accounts.sign_in("dora@acme", PASSWORD, client="bench")
    print(f"seeded {pending:,} pending approvals in {time.perf_counter() - started:.1f}s")
    with serving(app) as url, httpx.Client(base_url=url, cookies={"warden_session": session.session_id}) as c:
        first = c.get("/inbox")
        assert first.status_code == 200, first.status_code
        rows = first.text.count("<tr data-run=")
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            r = c.get("/inbox")
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
        deep = c.get("/inbox", params={"offset": 8_000})
        deep_rows = deep.text.count("<tr data-run=")
        t0 = time.perf_counter()
        for _ in range(20):
            c.get("/inbox", params={"offset": 8_000})
        deep_ms = (time.perf_counter() - t0) * 1000 / 20
    print(
        f"inbox page ({rows} rows of {pending * 9 // 10:,} for dora): p50 {statistics.median(times):.1f} ms, "
        f"p95 {pct(times, 0.95):.1f} ms over {runs} requests (goal p95 < 100 ms); "
        f"page at offset 8,000 ({deep_rows} rows): mean {deep_ms:.1f} ms"
    )


# --- 2. concurrent approvers --------------------------------------------------------------------

SMALL_RUNBOOK = """runbook: bench-label
version: 1
tenant: acme
description: Label the notice's practices (one step, no child runbook).
inputs: {document: document}
approval: {required_role: dpo}
steps:
  - id: practices
    analyser: policy_practices
    input: document
    description: Label each passage with the data practices it discloses.
"""


def approvers(tmp: Path, n_runs: int, n_approvers: int, contenders: int, uploads: int) -> None:
    names = [f"dpo{i:02d}@acme" for i in range(n_approvers)]

    def more_approvers(data: dict[str, Any]) -> None:
        for name in names:
            data["tenants"]["acme"]["users"][name] = {"roles": ["dpo"]}

    policy = policy_copy(tmp / "policy-approvers", tweak=more_approvers)
    app = create_app(tmp / "home-approvers", policy=policy, workers=2, escalate_every_s=None)
    svc = app.state.service
    for user in ["ana@acme", *names]:
        svc.accounts.add_user(user, "acme", PASSWORD)
    tokens = {u: svc.accounts.issue_token(u, None).secret for u in ["ana@acme", *names]}
    ana = svc.principal("ana@acme", "token", writing=True)
    started = time.perf_counter()
    run_ids = []
    for _ in range(n_runs):
        outcome = svc.start_request(
            "ana@acme",
            "acme",
            {"document": str(NOTICE), "runbook_path": "bench", "runbook": _runbook_data()},
            svc.policies.in_force(may_initialise=False),
            auth=ana.auth,
        )
        assert outcome.status == "waiting_approval", outcome
        run_ids.append(outcome.root_run_id)
    print(f"{n_runs} runs waiting for approval, made in {time.perf_counter() - started:.1f}s")

    with serving(app) as url:
        tasks = [
            (run, names[(i * 7 + k * 11) % n_approvers])
            for i, run in enumerate(run_ids)
            for k in range(contenders)
        ]
        random.Random(16).shuffle(tasks)
        lock = threading.Lock()
        answers: dict[int, int] = {}
        wins: dict[str, int] = {}
        errors: list[str] = []
        latencies: list[float] = []
        per_thread = [tasks[i::n_approvers] for i in range(n_approvers)]
        gate = threading.Barrier(n_approvers)

        def approver(mine: list[tuple[str, str]]) -> None:
            clients = {}
            try:
                gate.wait()
                for run, user in mine:
                    c = clients.get(user) or httpx.Client(
                        base_url=url, headers={"Authorization": f"Bearer {tokens[user]}"}, timeout=120
                    )
                    clients[user] = c
                    t0 = time.perf_counter()
                    try:
                        r = c.post(f"/api/runs/{run}/decision", json={"decision": "approve", "role": "dpo"})
                    except httpx.HTTPError as exc:
                        with lock:
                            errors.append(f"{run}: {type(exc).__name__}")
                        continue
                    with lock:
                        latencies.append((time.perf_counter() - t0) * 1000)
                        answers[r.status_code] = answers.get(r.status_code, 0) + 1
                        if r.status_code == 200:
                            wins[run] = wins.get(run, 0) + 1
                        elif r.status_code != 409:
                            errors.append(f"{run}: {r.status_code} {r.text[:120]}")
            finally:
                for c in clients.values():
                    c.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=approver, args=(m,)) for m in per_thread]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        answered = time.perf_counter() - started
        # wait for the background workers to carry every decision out
        deadline = time.monotonic() + 600
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['ana@acme']}"}) as c:
            while True:
                statuses = {c.get(f"/api/runs/{r}").json()["run"]["status"] for r in run_ids}
                if statuses <= {"completed", "failed", "rejected"} or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        settled = time.perf_counter() - started
        from warden.store import approvals

        with svc.store.connect(read_only=True) as con:
            rows = {r: [a for a in approvals.approvals_of_tree(con, r) if a["run_id"] == r] for r in run_ids}
        once = sum(1 for r in run_ids if len(rows[r]) == 1)
        print(
            f"{n_approvers} approvers, {len(tasks)} approve requests on {n_runs} runs ({contenders} each): "
            f"answers {dict(sorted(answers.items()))}, errors {len(errors)}, "
            f"runs won once {sum(1 for v in wins.values() if v == 1)}/{n_runs}, "
            f"approval rows exactly one {once}/{n_runs}, final statuses {sorted(statuses)}; "
            f"requests answered in {answered:.1f}s (p50 {statistics.median(latencies):.0f} ms, "
            f"p95 {pct(latencies, 0.95):.0f} ms), all carried out in {settled:.1f}s"
        )
        for e in errors[:5]:
            print("  error:", e)

        # --- 3. a 10-page PDF to "waiting for approval" ----------------------------------------
        pdf = ten_page_pdf()
        took = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['ana@acme']}"}) as c:
            for _ in range(uploads):
                t0 = time.perf_counter()
                r = c.post("/api/runs", data={"tenant": "acme"}, files={"file": ("notice.pdf", pdf)})
                assert r.status_code == 202, r.text
                run = r.json()["run_id"]
                while c.get(f"/api/runs/{run}").json()["run"]["status"] != "waiting_approval":
                    time.sleep(0.02)
                took.append(time.perf_counter() - t0)
        print(
            f"10-page PDF ({len(pdf):,} bytes) upload -> waiting for approval: "
            f"median {statistics.median(took):.2f}s, max {max(took):.2f}s over {uploads} (goal < 2 s)"
        )


def _runbook_data() -> dict[str, Any]:
    from warden.safeload import parse_text

    data: dict[str, Any] = parse_text(SMALL_RUNBOOK, source="bench").data
    return data


def ten_page_pdf() -> bytes:
    lines = [ln for ln in NOTICE.read_text(encoding="utf-8").splitlines() if ln.strip()]
    pages = []
    for p in range(10):
        text = [f"Acme Ltd Privacy Notice, page {p + 1} of 10"]
        for ln in lines[(p * 5) % len(lines) : (p * 5) % len(lines) + 40]:
            plain = ln.lstrip("#*- ").encode("cp1252", "replace").decode("cp1252")
            text += [plain[start : start + 90] for start in range(0, len(plain), 90)]
        shown = b" T*\n".join(b"(" + pdf_escape(t) + b") Tj" for t in text[:50])
        pages.append(b"BT /F1 11 Tf 56 790 Td 14 TL\n" + shown + b"\nET")
    return simple_pdf(pages)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--page-runs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--approvers", type=int, default=50)
    parser.add_argument("--contenders", type=int, default=5)
    parser.add_argument("--uploads", type=int, default=5)
    args = parser.parse_args()
    assert builtin_runbook("privacy-policy-review").is_file()
    with tempfile.TemporaryDirectory(prefix="warden-bench-server-") as tmp:
        inbox_page(Path(tmp), args.pending, args.page_runs)
        approvers(Path(tmp), args.runs, args.approvers, args.contenders, args.uploads)


if __name__ == "__main__":
    main()
