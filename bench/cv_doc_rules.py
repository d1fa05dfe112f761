"""Cross-validated figures for document-level candidate rules, over random policy splits of dev.

    python bench/cv_doc_rules.py [--seeds 1 2 3 4 5] [--historical] [--only NAME ...]
                                 [--apply NAME ...] [--candidates bench/doc_rule_candidates.yaml]

Labels both dev corpora once with the shipped rules, then, for each seed, splits the policies of
each corpus into two halves as ``bench/split_dev.py --seed N`` does (``--historical`` adds the
sha256 split every earlier round used) and scores each half as the shared scorer does: passage
micro-F1, and for GDPR-T-200 document-level "missing" precision and recall.

A candidate (a YAML list in ``--candidates``) labels the passages matching ``text`` (a regex,
case-insensitive; optional ``context`` regex over a heading or the list lead-in, optional
``unless`` veto) with ``label``, **only in a notice that no passage gives ``label`` yet**:
document-level reasoning, which never adds a second passage to an item already found.
Document conditions: ``doc`` (a regex the notice's text must match), ``doc_labels`` (the
notice must already carry one of them), ``max_passages`` / ``max_items`` (the notice has at
most that many passages / already discloses at most that many items). ``everywhere: true``
makes the candidate an ordinary passage rule instead, labelling notices that have the item too.

For each direction of each split (tune on one half, score the other), a candidate is
*selected* when on its tune half it raises missing precision without lowering missing recall
or either corpus's micro-F1. Printed: per direction the unseen half's figures with the shipped
rules and with the candidates its tune half selected; per candidate the mean change it makes on
the unseen halves over all directions (document gains: false "missing" removed; losses: true
"missing" lost) and how often it was selected; the means over all directions. ``--apply``
also scores the named candidates together on every unseen half. Aggregates only, no passage
text. Reads ../shared at run time only.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from _common import missing_counts
from split_dev import halves
from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker

SHARED = Path(__file__).resolve().parents[2] / "shared"
HERE = Path(__file__).resolve().parent
FIGURES = ("mp", "mr", "gmicro", "omicro")


@dataclass(frozen=True)
class Candidate:
    name: str
    label: str
    text: re.Pattern[str]
    context: re.Pattern[str] | None = None
    unless: re.Pattern[str] | None = None
    doc: re.Pattern[str] | None = None
    doc_labels: frozenset[str] = frozenset()
    max_passages: int | None = None
    max_items: int | None = None
    everywhere: bool = False


def load_candidates(path: Path) -> list[Candidate]:
    out = []
    for c in yaml.safe_load(path.read_text(encoding="utf-8")):
        unknown = set(c) - {f for f in Candidate.__dataclass_fields__}
        if unknown:
            sys.exit(f"{path}: candidate {c.get('name')}: unknown keys {sorted(unknown)}")
        regex = {k: re.compile(c[k], re.IGNORECASE) for k in ("text", "context", "unless", "doc") if c.get(k)}
        out.append(Candidate(**{**c, **regex, "doc_labels": frozenset(c.get("doc_labels", []))}))
    return out


def label_corpus(name: str) -> list[dict]:
    path = SHARED / "data" / "dev" / f"{name}_dev.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    labeller, tracker = default_labeller(), LeadInTracker()
    for r in rows:
        ctx = tuple(r.get("context", []))
        r["lead"] = tracker.next(r["text"], ctx)
        r["pred"] = frozenset(h.label for h in labeller.label(r["text"], ctx, r["lead"]))
    return rows


def matches(c: Candidate, row: dict) -> bool:
    if not c.text.search(row["text"]) or (c.unless and c.unless.search(row["text"])):
        return False
    return not c.context or any(c.context.search(h) for h in (*row["context"], row["lead"] or ""))


def added_labels(rows: list[dict], cands: Iterable[Candidate], items: frozenset[str]) -> dict[str, set[str]]:
    """Passage id -> labels the candidates add. Each candidate sees the rules' labels only."""
    added: dict[str, set[str]] = collections.defaultdict(set)
    docs: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows:
        docs[r["policy"]].append(r)
    for doc in docs.values():
        have: set[str] = set().union(*(r["pred"] for r in doc))
        text: str | None = None
        for c in cands:
            if c.label in have and not c.everywhere:
                continue
            if c.doc_labels and not c.doc_labels & have:
                continue
            if c.max_passages is not None and len(doc) > c.max_passages:
                continue
            if c.max_items is not None and len(have & items) > c.max_items:
                continue
            if c.doc is not None:
                text = text if text is not None else "\n".join(r["text"] for r in doc)
                if not c.doc.search(text):
                    continue
            for r in doc:
                if matches(c, r):
                    added[r["id"]].add(c.label)
    return added


class Scorer:
    def __init__(self, items: tuple[str, ...], opp_map: dict[str, set[str]]) -> None:
        self.items, self.item_set, self.opp_map = items, frozenset(items), opp_map

    def corpus(self, rows: list[dict], cands: Iterable[Candidate]) -> dict:
        added = added_labels(rows, cands, self.item_set)
        tp = fp = fn = 0
        gdoc: dict[str, set[str]] = collections.defaultdict(set)
        pdoc: dict[str, set[str]] = collections.defaultdict(set)
        for r in rows:
            labels = r["pred"] | added.get(r["id"], set())
            if "gold_opp" in r:
                gold = set(r["gold_opp"]) & set(self.opp_map)
                pred = {c for c, ls in self.opp_map.items() if ls & labels}
            else:
                gold, pred = set(r["gold"]), labels & self.item_set
                gdoc[r["policy"]] |= gold
                pdoc[r["policy"]] |= pred
            tp, fp, fn = tp + len(gold & pred), fp + len(pred - gold), fn + len(gold - pred)
        res: dict = {"micro": 2 * tp / max(1, 2 * tp + fp + fn)}
        if gdoc:
            mt, mf, mn = missing_counts(gdoc, pdoc, list(self.items))
            res.update(mp=mt / max(1, mt + mf), mr=mt / max(1, mt + mn), counts=(mt, mf, mn))
        return res

    def figures(self, gdpr: list[dict], opp: list[dict], cands: Iterable[Candidate]) -> dict:
        cands = list(cands)
        g, o = self.corpus(gdpr, cands), self.corpus(opp, cands)
        return {
            "mp": g["mp"],
            "mr": g["mr"],
            "gmicro": g["micro"],
            "omicro": o["micro"],
            "counts": g["counts"],
        }


def better(after: dict, before: dict) -> bool:
    eps = 1e-9
    return (
        after["mp"] > before["mp"] + eps
        and after["mr"] >= before["mr"] - eps
        and after["gmicro"] >= before["gmicro"] - eps
        and after["omicro"] >= before["omicro"] - eps
    )


def fmt(f: dict) -> str:
    return f"P {f['mp']:.4f} R {f['mr']:.4f} GDPR micro {f['gmicro']:.4f} OPP micro {f['omicro']:.4f}"


def mean(fs: list[dict]) -> dict:
    return {k: statistics.mean(f[k] for f in fs) for k in FIGURES}


def split(rows: list[dict], seed: int | None) -> tuple[list[dict], list[dict]]:
    half = halves(rows, seed)
    tune = [r for r in rows if half[r["policy"]] == "tune"]
    return tune, [r for r in rows if half[r["policy"]] == "heldback"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--historical", action="store_true", help="also the sha256 split of earlier rounds")
    ap.add_argument("--candidates", default=str(HERE / "doc_rule_candidates.yaml"))
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--apply", nargs="*", default=[], help="score these candidates together")
    a = ap.parse_args()
    sys.path.insert(0, str(SHARED / "bin"))
    from labels import GDPR_ITEMS, OPP_FROM_LABELS  # type: ignore[import-not-found]

    cands = load_candidates(Path(a.candidates))
    if a.only:
        cands = [c for c in cands if c.name in a.only]
    applied = [c for c in cands if c.name in a.apply]
    scorer = Scorer(GDPR_ITEMS, OPP_FROM_LABELS)
    gdpr, opp = label_corpus("gdpr_t200"), label_corpus("opp115")
    full = scorer.figures(gdpr, opp, [])
    print(f"full dev, shipped rules: {fmt(full)}  missing TP/false-missing/false-present {full['counts']}")
    if applied:
        f = scorer.figures(gdpr, opp, applied)
        print(f"full dev, + {a.apply}: {fmt(f)}  counts {f['counts']}")
    per: dict[str, list[dict]] = collections.defaultdict(list)
    selected: collections.Counter[str] = collections.Counter()
    before, after, with_applied = [], [], []
    seeds: list[int | None] = [*([None] if a.historical else []), *a.seeds]
    for seed in seeds:
        (g_a, g_b), (o_a, o_b) = split(gdpr, seed), split(opp, seed)
        name = "sha256" if seed is None else f"seed {seed}"
        for direction, tune, unseen in (("A->B", (g_a, o_a), (g_b, o_b)), ("B->A", (g_b, o_b), (g_a, o_a))):
            t0, u0 = scorer.figures(*tune, []), scorer.figures(*unseen, [])
            keep = []
            for c in cands:
                u1 = scorer.figures(*unseen, [c])
                change = {k: u1[k] - u0[k] for k in FIGURES}
                change["gain"] = u0["counts"][1] - u1["counts"][1]
                change["loss"] = u0["counts"][0] - u1["counts"][0]
                per[c.name].append(change)
                if better(scorer.figures(*tune, [c]), t0):
                    keep.append(c)
                    selected[c.name] += 1
            u_sel = scorer.figures(*unseen, keep)
            before.append(u0)
            after.append(u_sel)
            print(f"{name:8s} {direction} unseen, shipped rules: {fmt(u0)}")
            print(f"{'':13s} + selected:     {fmt(u_sel)}  ({', '.join(c.name for c in keep) or 'none'})")
            if applied:
                with_applied.append(scorer.figures(*unseen, applied))
                print(f"{'':13s} + applied:      {fmt(with_applied[-1])}")
    n = len(before)
    print(f"\nper candidate, mean change on the unseen half over {n} directions (document gains / losses):")
    for name, changes in per.items():
        m = mean(changes)
        print(
            f"  {name:34s} dP {m['mp']:+.4f} dR {m['mr']:+.4f}"
            f" dGDPR {m['gmicro']:+.4f} dOPP {m['omicro']:+.4f}"
            f"  gains {sum(c['gain'] for c in changes):3d} losses {sum(c['loss'] for c in changes):3d}"
            f"  selected {selected[name]}/{n}"
        )
    print(f"\nmean unseen, shipped rules:             {fmt(mean(before))}")
    print(f"mean unseen, + tune-selected candidates: {fmt(mean(after))}")
    if with_applied:
        print(f"mean unseen, + {a.apply}: {fmt(mean(with_applied))}")


if __name__ == "__main__":
    main()
