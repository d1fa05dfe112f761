"""The API flow end to end, upload limits, and exactly-once decisions under concurrent approvers."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from tests.server.conftest import NOTICE, Live

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _uploads(live: Live) -> list[Path]:
    folder = live.home / "uploads"
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_upload_waiting_approve_root_then_child_then_findings(live: Live) -> None:
    with live.client("ana@acme") as ana, live.client("dora@acme") as dora:
        r = ana.post("/api/runs", data={"tenant": "acme"}, files={"file": ("notice.md", NOTICE.read_bytes())})
        # 202: accepted for the background workers (latency is bench_server.py's figure, not a test's)
        assert r.status_code == 202 and r.json()["status"] in ("running", "waiting_approval"), r.text
        root = r.json()["run_id"]
        live.settle("ana@acme", root)
        detail = dora.get(f"/api/runs/{root}").json()
        assert detail["run"]["status"] == "waiting_approval"
        approval = detail["approval"]
        assert approval["required_role"] == "dpo" and approval["report"]["ok"] is True
        assert approval["runbook"]["runbook"] == "privacy-policy-review" and "diff" in approval
        assert approval["cost_estimate_usd"] is not None
        assert [
            r["run_id"] for r in dora.get("/api/runs", params={"status": "waiting_approval"}).json()
        ].count(root) == 1

        decided = dora.post(f"/api/runs/{root}/decision", json={"decision": "approve", "role": "dpo"})
        assert decided.status_code == 200 and decided.json()["decision"] == "approve", decided.text
        nodes = live.settle("dora@acme", root)
        child = next(n["run_id"] for n in nodes if n["parent_run_id"] == root)
        assert dora.get(f"/api/runs/{child}").json()["run"]["status"] == "waiting_approval"

        decided = dora.post(
            f"/api/runs/{child}/decision",
            params={"wait": 30},
            json={"decision": "approve", "role": "dpo", "comment": "checks reviewed"},
        )
        assert decided.status_code == 200, decided.text
        nodes = live.settle("dora@acme", root)
        assert {n["status"] for n in nodes} == {"completed"}
        findings = ana.get(f"/api/runs/{root}/findings").json()
        assert findings and all("evidence" in f and "severity" in f for f in findings)
        high = ana.get(f"/api/runs/{root}/findings", params={"min_severity": "high"}).json()
        assert len(high) < len(findings)
        assert ana.get(f"/api/runs/{root}/findings", params={"min_severity": "bogus"}).status_code == 400


def test_reject_needs_a_reason_and_stops_the_run(live: Live) -> None:
    run = live.waiting_run()
    with live.client("dora@acme") as dora:
        r = dora.post(f"/api/runs/{run}/decision", json={"decision": "reject", "role": "dpo"})
        assert r.status_code == 400
        r = dora.post(
            f"/api/runs/{run}/decision",
            params={"wait": 30},
            json={"decision": "reject", "role": "dpo", "reason": "no"},
        )
        assert r.status_code == 200, r.text
        assert live.settle("dora@acme", run)[0]["status"] == "rejected"


def test_upload_limits_answer_with_codes_and_store_nothing(live: Live, monkeypatch: object) -> None:
    from warden.service import starting as service_module

    before = _uploads(live)
    with live.client("ana@acme") as ana:
        png = ana.post("/api/runs", data={"tenant": "acme"}, files={"file": ("notice.pdf", PNG)})
        assert png.status_code == 415 and png.json()["error"]["code"] == "upload_type"
        exe = ana.post("/api/runs", data={"tenant": "acme"}, files={"file": ("notice.exe", b"hello world")})
        assert exe.status_code == 415 and exe.json()["error"]["code"] == "upload_type"
        liar = ana.post(
            "/api/runs", data={"tenant": "acme"}, files={"file": ("notice.pdf", NOTICE.read_bytes())}
        )
        assert liar.status_code == 415 and "its content is markdown" in liar.json()["error"]["message"]
        empty = ana.post("/api/runs", data={"tenant": "acme"}, files={"file": ("notice.md", b"")})
        assert empty.status_code == 415
        monkeypatch.setattr(service_module, "MAX_UPLOAD_BYTES", 1000)  # type: ignore[attr-defined]
        big = ana.post(
            "/api/runs", data={"tenant": "acme"}, files={"file": ("notice.md", b"# Notice\n" * 200)}
        )
        assert big.status_code == 413 and big.json()["error"]["code"] == "upload_too_large"
        other = ana.post(
            "/api/runs", data={"tenant": "globex"}, files={"file": ("n.md", NOTICE.read_bytes())}
        )
        assert other.status_code == 403
    assert _uploads(live) == before


def test_twenty_concurrent_approvers_execute_the_decision_exactly_once(live: Live) -> None:
    from warden.store import approvals

    run = live.waiting_run()
    answers: list[int] = []
    gate = threading.Barrier(20)

    def approve() -> None:
        with httpx.Client(
            base_url=live.url, headers={"Authorization": f"Bearer {live.tokens['dora@acme']}"}
        ) as c:
            gate.wait()
            r = c.post(f"/api/runs/{run}/decision", json={"decision": "approve", "role": "dpo"}, timeout=120)
            answers.append(r.status_code)

    threads = [threading.Thread(target=approve) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200] + [409] * 19, answers
    live.settle("dora@acme", run)
    with live.service.store.connect(read_only=True) as con:
        rows = [a for a in approvals.approvals_of_tree(con, run) if a["run_id"] == run]
    assert len(rows) == 1 and rows[0]["decision"] == "approve"
