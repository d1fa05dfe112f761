"""The store's JSON with credentials masked: the whole-dump check against walking every string.

    python bench/bench_json_scrub.py [--analyses 5] [--rounds 20]

Records every payload `store._util.to_json` gets during `--analyses` warm analyses of the Acme
notice (as `profile_orchestration.py` drives them: ``Service.long_lived()``, two warm-up
analyses, the auto-approving policy), checks that both ways dump them byte for byte alike, then
times each way over one analysis's payloads, alternated twice, in thread CPU (ms per analysis),
and says how many payloads still take the walk.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ACME, auto_policy

from warden import credentials
from warden.service import Service
from warden.store import _util


def _walk(value: Any) -> str:
    """to_json before the whole-dump check: every string scrubbed, then dumped."""
    return json.dumps(
        credentials.scrub_data(value),
        sort_keys=True,
        default=lambda v: credentials.scrub(str(v)),
        ensure_ascii=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--analyses", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    seen: list[Any] = []
    real = _util.dumps_scrubbed

    def recording(value: Any, **dumps: Any) -> str:
        seen.append(value)
        return real(value, **dumps)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        svc = Service(tmp / "warm", policy=auto_policy(tmp / "auto.yaml"))
        svc.long_lived()
        ana = svc.principal("ana@acme", "asserted", writing=True)
        for _ in range(2):
            svc.start(ana, ACME / "notice.md", tenant="acme")
        _util.dumps_scrubbed = recording  # what every store module's to_json calls
        try:
            for _ in range(args.analyses):
                svc.start(ana, ACME / "notice.md", tenant="acme")
        finally:
            _util.dumps_scrubbed = real
        svc.store.close()
    payloads = seen[: len(seen) // args.analyses]
    assert all(_util.to_json(v) == _walk(v) for v in seen), "the two ways differ"
    for name, way in (("walk", _walk), ("check", _util.to_json), ("walk", _walk), ("check", _util.to_json)):
        started = time.thread_time()
        for _ in range(args.rounds):
            for value in payloads:
                way(value)
        print(f"{name:<6} {(time.thread_time() - started) / args.rounds * 1000:7.2f} ms per analysis")
    walked = sum(
        credentials._may_hold_anywhere(json.dumps(v, default=str, ensure_ascii=False)) for v in payloads
    )
    print(f"{len(payloads)} payloads per analysis, {walked} take the walk")


if __name__ == "__main__":
    main()
