"""Splits the shared dev corpora by policy into a tuning half and a held-back half.

    python bench/split_dev.py OUT_DIR [--seed N]  ->  OUT_DIR/{gdpr_t200,opp115}_{tune,heldback}.jsonl

Without ``--seed``, policies are ordered by sha256 of their name and alternated, so the split is
stable and balanced (every round of issue 18 used it). ``--seed N`` shuffles the policies with
``random.Random(N)`` instead and alternates them: another balanced split, for cross-validation
over several splits (``bench/cv_doc_rules.py`` uses the same function). Reads ../shared at run
time only; nothing of it is shipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"


def halves(rows: list[dict], seed: int | None = None) -> dict[str, str]:
    """Policy -> 'tune' or 'heldback'."""
    if seed is None:
        policies = sorted({r["policy"] for r in rows}, key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    else:
        policies = sorted({r["policy"] for r in rows})
        random.Random(seed).shuffle(policies)
    return {p: ("tune", "heldback")[i % 2] for i, p in enumerate(policies)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, help="a random split instead of the sha256 order")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("gdpr_t200", "opp115"):
        rows = [json.loads(line) for line in (SHARED / f"{name}_dev.jsonl").open(encoding="utf-8")]
        half = halves(rows, a.seed)
        for part in ("tune", "heldback"):
            chosen = [r for r in rows if half[r["policy"]] == part]
            path = out / f"{name}_{part}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in chosen), encoding="utf-8")
            print(f"{path}: {len(chosen)} rows, {len({r['policy'] for r in chosen})} policies")


if __name__ == "__main__":
    main()
