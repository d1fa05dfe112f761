"""Splits the shared dev corpora by policy into a tuning half and a held-back half.

    python bench/split_dev.py OUT_DIR   ->  OUT_DIR/{gdpr_t200,opp115}_{tune,heldback}.jsonl

Policies are ordered by sha256 of their name and alternated, so the split is stable and
balanced. Reads ../shared at run time only; nothing of it is shipped.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"


def halves(rows: list[dict]) -> dict[str, str]:
    """Policy -> 'tune' or 'heldback'."""
    policies = sorted({r["policy"] for r in rows}, key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    return {p: ("tune", "heldback")[i % 2] for i, p in enumerate(policies)}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in ("gdpr_t200", "opp115"):
        rows = [json.loads(line) for line in (SHARED / f"{name}_dev.jsonl").open(encoding="utf-8")]
        half = halves(rows)
        for part in ("tune", "heldback"):
            chosen = [r for r in rows if half[r["policy"]] == part]
            path = out / f"{name}_{part}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in chosen), encoding="utf-8")
            print(f"{path}: {len(chosen)} rows, {len({r['policy'] for r in chosen})} policies")


if __name__ == "__main__":
    main()
