"""How passage labels become "item present in the document", and what a stricter reading would do.

    python bench/doc_aggregation.py [--splits /tmp/splits] [--half tune|heldback|both]

The shared scorer counts an item present in a policy when any one of its passages carries it.
This prints, per half of GDPR-T-200, the document-level missing-item precision and recall of
that reading and of stricter ones:

- ``passages>=2``: an item needs two passages;
- ``confidence>=C``: an item needs one hit of at least confidence C;
- ``weak-only:<item>``: an item whose evidence is a single passage of confidence < 0.9 is
  counted missing (the "stronger cue for items often falsely present" reading), per item;

and, on the tune half only, per (item, rule): in how many policies that rule is the item's only
evidence, split by whether the gold has the item. Held-back output is aggregate counts only.
Split files come from bench/split_dev.py; reads ../shared at run time only.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Callable
from pathlib import Path

from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker

SHARED_BIN = Path(__file__).resolve().parents[2] / "shared" / "bin"

# per policy: gold items, and per predicted item the (rule, confidence) of each passage's best hit
Doc = tuple[set[str], dict[str, list[tuple[str, float]]]]


def load(path: Path, items: tuple[str, ...]) -> dict[str, Doc]:
    labeller, tracker = default_labeller(), LeadInTracker()
    docs: dict[str, Doc] = {}
    for line in path.open(encoding="utf-8"):
        row = json.loads(line)
        context = tuple(row.get("context", []))
        lead = tracker.next(row["text"], context)
        gold, evidence = docs.setdefault(row["policy"], (set(), collections.defaultdict(list)))
        gold |= set(row["gold"])
        for hit in labeller.label(row["text"], context, lead):
            if hit.label in items:
                evidence[hit.label].append((hit.evidence.rule, hit.confidence))
    return docs


def figures(
    docs: dict[str, Doc], items: tuple[str, ...], present: Callable
) -> tuple[float, float, int, int, int]:
    tp = fp = fn = 0
    for gold, evidence in docs.values():
        for item in items:
            gold_missing = item not in gold
            pred_missing = not present(item, evidence.get(item, []))
            tp += gold_missing and pred_missing
            fp += pred_missing and not gold_missing
            fn += gold_missing and not pred_missing
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp, fp, fn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", default="/tmp/splits")
    ap.add_argument("--half", choices=("tune", "heldback", "both"), default="both")
    a = ap.parse_args()
    sys.path.insert(0, str(SHARED_BIN))
    from labels import GDPR_ITEMS  # type: ignore[import-not-found]

    items = tuple(GDPR_ITEMS)
    halves = ("tune", "heldback") if a.half == "both" else (a.half,)
    readings: dict[str, Callable] = {
        "any passage (scorer)": lambda item, ev: bool(ev),
        "passages>=2": lambda item, ev: len(ev) >= 2,
        "confidence>=0.7": lambda item, ev: any(c >= 0.7 for _, c in ev),
        "confidence>=0.8": lambda item, ev: any(c >= 0.8 for _, c in ev),
    }
    for weak in items:
        readings[f"weak-only:{weak}"] = lambda item, ev, weak=weak: (
            bool(ev) and not (item == weak and len(ev) == 1 and ev[0][1] < 0.9)
        )
    for half in halves:
        docs = load(Path(a.splits) / f"gdpr_t200_{half}.jsonl", items)
        print(f"== {half} ({len(docs)} policies)")
        base = figures(docs, items, readings["any passage (scorer)"])
        for name, present in readings.items():
            p, r, tp, fp, fn = figures(docs, items, present)
            if name.startswith("weak-only:") and (tp, fp, fn) == base[2:]:
                continue
            print(f"  {name:34s} P {p:.3f} R {r:.3f}  (TP {tp}, false missing {fp}, false present {fn})")
        if half != "tune":
            continue
        sole: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
        for gold, evidence in docs.values():
            for item, ev in evidence.items():
                rules = {rule for rule, _ in ev}
                if len(rules) == 1:
                    sole[(item, rules.pop())][item in gold] += 1
        print("  sole evidence (item, rule): policies whose gold lacks / has the item")
        for (_item, rule), (lacks, has) in sorted(sole.items()):
            if lacks:
                print(f"    {rule:45s} {lacks:3d} / {has:3d}")


if __name__ == "__main__":
    main()
