"""Document-level completeness errors per item (GDPR-T-200 rows), as the shared scorer counts them.

    python bench/doc_missing.py GOLD.jsonl [--show LABEL] [--missed LABEL]

"missing" is the positive class: a false positive is an item the policy discloses that no
passage was labelled with; a false negative is an item the policy lacks that some passage
was labelled with (``--show`` prints those passages). ``--missed`` prints, for each policy
where LABEL is falsely "missing", the passages the gold gives it (headings, text and the
labels the rules gave). Reads ../shared at run time only.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker

SHARED_BIN = Path(__file__).resolve().parents[2] / "shared" / "bin"
sys.path.insert(0, str(SHARED_BIN))
from labels import GDPR_ITEMS as ITEMS  # type: ignore[import-not-found]  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("gold")
    ap.add_argument("--show")
    ap.add_argument("--missed")
    a = ap.parse_args()
    rows = [json.loads(line) for line in Path(a.gold).read_text(encoding="utf-8").splitlines()]
    labeller, tracker = default_labeller(), LeadInTracker()
    gdoc, pdoc = collections.defaultdict(set), collections.defaultdict(set)
    why = collections.defaultdict(list)
    gold_rows = collections.defaultdict(list)
    for r in rows:
        ctx = tuple(r.get("context", []))
        lead = tracker.next(r["text"], ctx)
        hits = labeller.label(r["text"], ctx, lead)
        if a.missed in r["gold"]:
            gold_rows[r["policy"]].append((ctx, lead, r["text"], sorted({h.label for h in hits})))
        gdoc[r["policy"]] |= set(r["gold"])
        for h in hits:
            if h.label in ITEMS:
                pdoc[r["policy"]].add(h.label)
                why[(r["policy"], h.label)].append((h.evidence.rule, r["text"][:200]))
    fp, fn = collections.Counter(), collections.Counter()
    tp = 0
    for pol in gdoc:
        for c in ITEMS:
            gm, pm = c not in gdoc[pol], c not in pdoc[pol]
            tp += gm and pm
            if pm and not gm:
                fp[c] += 1
                if a.missed == c:
                    print(f"== {pol}")
                    for ctx, lead, text, labels in gold_rows[pol]:
                        print(f"   ctx={list(ctx)} lead={lead!r}\n   {text!r}\n   rules: {labels}")
            if gm and not pm:
                fn[c] += 1
                if a.show == c:
                    print(pol, why[(pol, c)][:3])
    print(f"missing TP {tp} FP {sum(fp.values())} FN {sum(fn.values())}")
    print(f"P {tp / max(1, tp + sum(fp.values())):.3f} R {tp / max(1, tp + sum(fn.values())):.3f}")
    for c in ITEMS:
        if fp[c] or fn[c]:
            print(f"  {c:30s} missed(FP) {fp[c]:3d}  spurious(FN) {fn[c]:3d}")


if __name__ == "__main__":
    main()
