"""Aggregate figures of the rule labeller on the tune and held-back halves, in-process.

    python bench/eval_halves.py [--splits /tmp/splits] [--drop RULE_ID ...] [--only-label LABEL]

Prints, per corpus and half, passage micro-F1 (as the shared scorer computes it) and, for
GDPR-T-200, document-level missing-item precision and recall; ``--drop`` runs without the
named rules, to measure what a rule adds on each half without reading held-back passages.
Split files come from bench/split_dev.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

from _common import missing_counts
from warden_analysers.policy_practices.engine import Labeller
from warden_analysers.policy_practices.loader import RuleSet, load_rules
from warden_analysers.policy_practices.sequence import LeadInTracker

SHARED_BIN = Path(__file__).resolve().parents[2] / "shared" / "bin"


def score(rows: list[dict], labeller: Labeller, items, opp_map) -> dict:
    tracker = LeadInTracker()
    opp = "gold_opp" in rows[0]
    tp = fp = fn = 0
    per = collections.defaultdict(lambda: [0, 0, 0])
    gdoc, pdoc = collections.defaultdict(set), collections.defaultdict(set)
    for r in rows:
        ctx = tuple(r.get("context", []))
        lead = tracker.next(r["text"], ctx)
        labels = {h.label for h in labeller.label(r["text"], ctx, lead)}
        if opp:
            gold = set(r["gold_opp"]) & set(opp_map)
            pred = {c for c, ls in opp_map.items() if ls & labels}
        else:
            gold, pred = set(r["gold"]), labels & set(items)
            gdoc[r["policy"]] |= gold
            pdoc[r["policy"]] |= pred
        for c in gold | pred:
            k = 0 if c in gold and c in pred else 1 if c in pred else 2
            per[c][k] += 1
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
    res = {"micro": 2 * tp / max(1, 2 * tp + fp + fn), "per": dict(per), "tpfpfn": (tp, fp, fn)}
    if not opp:
        mt, mf, mn = missing_counts(gdoc, pdoc, items)
        res["mp"], res["mr"] = mt / max(1, mt + mf), mt / max(1, mt + mn)
        res["mcounts"] = (mt, mf, mn)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", default="/tmp/splits")
    ap.add_argument("--drop", nargs="*", default=[])
    ap.add_argument("--counts", action="store_true", help="also print the counts behind each figure")
    ap.add_argument("--label", help="also print TP/FP/FN of this label (or OPP category)")
    a = ap.parse_args()
    sys.path.insert(0, str(SHARED_BIN))
    from labels import GDPR_ITEMS, OPP_FROM_LABELS  # type: ignore[import-not-found]

    full = load_rules()
    unknown = set(a.drop) - {r.id for r in full.rules}
    if unknown:
        sys.exit(f"unknown rules {sorted(unknown)}")
    labeller = Labeller(RuleSet(full.headings, tuple(r for r in full.rules if r.id not in a.drop)))
    for corpus in ("gdpr_t200", "opp115"):
        for half in ("tune", "heldback"):
            path = Path(a.splits) / f"{corpus}_{half}.jsonl"
            rows = [json.loads(line) for line in path.open(encoding="utf-8")]
            res = score(rows, labeller, GDPR_ITEMS, OPP_FROM_LABELS)
            line = f"{corpus:10s} {half:9s} micro {res['micro']:.4f}"
            if "mp" in res:
                line += f"  missing P {res['mp']:.3f} R {res['mr']:.3f}"
            if a.counts:
                line += f"  passages TP/FP/FN {res['tpfpfn']}"
                if "mcounts" in res:
                    line += f"  missing TP/false-missing/false-present {res['mcounts']}"
            if a.label and a.label in res["per"]:
                line += f"  {a.label} TP/FP/FN {res['per'][a.label]}"
            print(line)


if __name__ == "__main__":
    main()
