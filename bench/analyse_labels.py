"""Per-label and per-rule error counts of the rule labeller on a gold JSONL file (dev data).

    python bench/analyse_labels.py GOLD.jsonl [--label L] [--fp N] [--fn N] [--rules]

Runs the labeller in-process (same path as ``warden extract --passages``) and prints, per
label, TP/FP/FN, with optional examples; for OPP-115 rows the labels are mapped to the
OPP-115 categories as the shared scorer does. Reads ../shared at run time only.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path

from warden_analysers.policy_practices.batch import PassageRow
from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker

SHARED_BIN = Path(__file__).resolve().parents[2] / "shared" / "bin"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("gold")
    ap.add_argument("--label", help="label (GDPR) or OPP category to show examples of")
    ap.add_argument("--fp", type=int, default=0)
    ap.add_argument("--fn", type=int, default=0)
    ap.add_argument("--rules", action="store_true", help="FP/TP per rule")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    sys.path.insert(0, str(SHARED_BIN))
    from labels import GDPR_ITEMS, OPP_FROM_LABELS  # type: ignore[import-not-found]

    rows = [json.loads(line) for line in Path(a.gold).read_text(encoding="utf-8").splitlines()]
    opp = "gold_opp" in rows[0]
    labeller, tracker = default_labeller(), LeadInTracker()
    per = collections.defaultdict(lambda: [0, 0, 0])
    rule_stats = collections.defaultdict(lambda: [0, 0])
    fps, fns = collections.defaultdict(list), collections.defaultdict(list)
    for r in rows:
        row = PassageRow(r["id"], r["text"], tuple(r.get("context", [])))
        lead = tracker.next(row.text, row.context)
        hits = labeller.label(row.text, row.context, lead)
        labels = {h.label for h in hits}
        by_label = {h.label: h.evidence.rule for h in hits}
        if opp:
            gold = set(r["gold_opp"]) & set(OPP_FROM_LABELS)
            pred = {c for c, ls in OPP_FROM_LABELS.items() if ls & labels}
            why = {c: [by_label[x] for x in ls & labels] for c, ls in OPP_FROM_LABELS.items()}
        else:
            gold = set(r["gold"])
            pred = labels & set(GDPR_ITEMS)
            why = {c: [by_label[c]] if c in by_label else [] for c in GDPR_ITEMS}
        for c in gold | pred:
            s = per[c]
            if c in gold and c in pred:
                s[0] += 1
            elif c in pred:
                s[1] += 1
                fps[c].append((r, why[c], lead))
            else:
                s[2] += 1
                fns[c].append((r, sorted(labels), lead))
            for rule in why.get(c, []) if c in pred else []:
                rule_stats[rule][0 if c in gold else 1] += 1
    tt = sum(s[0] for s in per.values())
    tf = sum(s[1] for s in per.values())
    tn = sum(s[2] for s in per.values())
    print(f"{'label':40s} {'TP':>5s} {'FP':>5s} {'FN':>5s} {'F1':>6s}")
    for c, (tp, fp, fn) in sorted(per.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
        print(f"{c:40s} {tp:5d} {fp:5d} {fn:5d} {2 * tp / max(1, 2 * tp + fp + fn):6.3f}")
    print(f"micro F1 {2 * tt / max(1, 2 * tt + tf + tn):.3f}  (TP {tt} FP {tf} FN {tn})")
    if a.rules:
        print(f"\n{'rule':55s} {'TP':>5s} {'FP':>5s}")
        for rule, (tp, fp) in sorted(rule_stats.items(), key=lambda kv: -kv[1][1]):
            print(f"{rule:55s} {tp:5d} {fp:5d}")
    rnd = random.Random(a.seed)
    if a.label:
        for name, pool, n in (("FP", fps, a.fp), ("FN", fns, a.fn)):
            items = pool[a.label]
            for r, extra, lead in rnd.sample(items, min(n, len(items))):
                gold = r.get("gold", r.get("gold_opp"))
                print(f"\n[{name}] {r['id']} ctx={r.get('context')} lead={lead!r}\n  gold={gold} x={extra}")
                print("  " + r["text"][:700].replace("\n", " "))


if __name__ == "__main__":
    main()
