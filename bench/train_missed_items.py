"""A small learned model used only to find GDPR items the rules missed (issue 18), measured.

    python bench/split_dev.py /tmp/splits
    python bench/train_missed_items.py --splits /tmp/splits            # CV on tune, held-back aggregates
    python bench/train_missed_items.py --splits /tmp/splits --report-cv  # also per-item CV counts (tune)

Per GDPR item, a logistic regression over binary features of a passage: its lower-cased word
unigrams and bigrams, the words of its headings and list lead-in (``h:``), and the labels the
rules gave it (``r:``). Trained by SGD in pure Python with a fixed order (deterministic), pruned
to the ``--top`` features of largest weight per item. The model only *adds*: a passage gets an
item when the rules did not give it and the model's score is at or above the item's threshold.

Thresholds are chosen on the tune half only, by cross-validation inside it (``--folds`` folds by
policy): every tune passage is scored by a model that did not see its policy, and for each item
the threshold is the cut between two distinct scores maximising document-level gains (items
the rules left falsely "missing" that the additions find) minus losses (items then "present"
in policies whose gold lacks them), among cuts whose added passages are at least
``--min-precision`` correct (below about 0.36 an addition lowers passage micro-F1) and with
gains ≥ ``--min-gain`` and gains > losses; an item with no such cut gets no additions. The
model is then trained on the whole tune half and scored on the held-back halves of both
corpora; held back, **only aggregates** are printed (micro-F1, TP/FP/FN, missing P/R and their
counts, labels added), never a passage.

``--algo nb`` uses naive Bayes instead; ``--residual`` trains each item only on the passages the
rules did not give it; ``--min-precision 0 --min-gain 1`` relaxes the selection.

Result (2026-12-06, docs/EXTRACTION.md, "third round"): with the default selection no item of any
variant gets a threshold; the relaxed variants lower passage micro-F1 and, held back, missing
recall. Rejected. Nothing here is shipped: ``../shared/data/dev/README.md`` forbids shipping a
model trained on the dev files. Reads ../shared at run time only.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import itertools
import json
import math
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _common import missing_counts
from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.sequence import LeadInTracker

SHARED_BIN = Path(__file__).resolve().parents[2] / "shared" / "bin"
WORD = re.compile(r"[a-z][a-z0-9']*")


def features(text: str, context: Sequence[str], lead_in: str | None, rule_labels: set[str]) -> set[str]:
    words = WORD.findall(text.lower())
    out = set(words)
    out.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    for heading in (*context, lead_in or ""):
        out.update("h:" + w for w in WORD.findall(heading.lower()))
    out.update("r:" + label for label in rule_labels)
    return out


def prepare(rows: list[dict]) -> list[tuple[set[str], set[str]]]:
    """(features, rule labels) per row, in file order (lead-ins need reading order)."""
    labeller, tracker = default_labeller(), LeadInTracker()
    out = []
    for r in rows:
        ctx = tuple(r.get("context", []))
        lead = tracker.next(r["text"], ctx)
        labels = {h.label for h in labeller.label(r["text"], ctx, lead)}
        out.append((features(r["text"], ctx, lead, labels), labels))
    return out


class Model:
    """Per item: bias and sparse weights {feature: weight}."""

    def __init__(self, weights: dict[str, tuple[float, dict[str, float]]]) -> None:
        self.weights = weights

    def score(self, feats: set[str], item: str) -> float:
        bias, w = self.weights[item]
        return bias + math.fsum(w.get(f, 0.0) for f in feats)  # exact: not set order


def train(
    data: list[tuple[set[str], set[str]]],
    golds: list[set[str]],
    items: Sequence[str],
    *,
    epochs: int,
    l2: float,
    top: int,
    residual: bool = False,
    min_count: int = 2,
) -> Model:
    """``residual``: per item, train only on the passages the rules did not give the item."""
    counts = collections.Counter(f for feats, _ in data for f in feats)
    vocab = sorted(f for f, n in counts.items() if n >= min_count)
    index = {f: i for i, f in enumerate(vocab)}
    rows = [[index[f] for f in sorted(feats) if f in index] for feats, _ in data]
    order = list(range(len(rows)))
    weights = {}
    for item in items:
        w = [0.0] * len(vocab)
        g2 = [1e-8] * len(vocab)  # AdaGrad accumulators
        bias, bg2 = 0.0, 1e-8
        ys = [1.0 if item in g else 0.0 for g in golds]
        for epoch in range(epochs):
            # a fixed permutation per epoch: deterministic, not file order
            order.sort(key=lambda i, e=epoch: hashlib.blake2b(f"{e}:{i}".encode(), digest_size=4).digest())
            for i in order:
                if residual and item in data[i][1]:
                    continue
                fs = rows[i]
                z = bias + sum(w[f] for f in fs)
                p = 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0
                g = p - ys[i]
                if g == 0.0:
                    continue
                bg2 += g * g
                bias -= 0.5 * g / math.sqrt(bg2)
                for f in fs:
                    gf = g + l2 * w[f]
                    g2[f] += gf * gf
                    w[f] -= 0.5 * gf / math.sqrt(g2[f])
        kept = sorted(range(len(vocab)), key=lambda f: (-abs(w[f]), vocab[f]))[:top]
        weights[item] = (bias, {vocab[f]: round(w[f], 4) for f in kept if abs(w[f]) >= 1e-4})
    return Model(weights)


def train_nb(
    data: list[tuple[set[str], set[str]]],
    golds: list[set[str]],
    items: Sequence[str],
    *,
    top: int,
    residual: bool = False,
    alpha: float = 1.0,
    min_count: int = 2,
) -> Model:
    """Bernoulli-style naive Bayes as a log-count ratio per feature (as in NBSVM): the score of
    a passage is the log prior ratio plus the ratios of the features it carries. ``residual``:
    per item, counted only over the passages the rules did not give the item."""
    vocab = sorted(
        f for f, n in collections.Counter(f for fs, _ in data for f in fs).items() if n >= min_count
    )
    weights = {}
    for item in items:
        used = [
            (fs, g) for (fs, labels), g in zip(data, golds, strict=True) if not (residual and item in labels)
        ]
        counts = collections.Counter(f for fs, _ in used for f in fs)
        pos = collections.Counter(f for fs, g in used if item in g for f in fs)
        npos = sum(item in g for _, g in used)
        nneg = len(used) - npos
        ratio = {}
        for f in vocab:
            p = (pos[f] + alpha) / (npos + 2 * alpha)
            q = (counts[f] - pos[f] + alpha) / (nneg + 2 * alpha)
            ratio[f] = math.log(p / q)
        kept = sorted(vocab, key=lambda f: (-abs(ratio[f]), f))[:top]
        bias = math.log((npos + alpha) / (nneg + alpha))
        weights[item] = (bias, {f: round(ratio[f], 4) for f in kept})
    return Model(weights)


def folds_of(rows: list[dict], k: int) -> list[int]:
    policies = sorted({r["policy"] for r in rows}, key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    fold = {p: i % k for i, p in enumerate(policies)}
    return [fold[r["policy"]] for r in rows]


def choose_thresholds(
    rows: list[dict],
    data: list[tuple[set[str], set[str]]],
    scores: list[dict[str, float]],
    items: Sequence[str],
    *,
    min_precision: float,
    min_gain: int,
    report: bool,
) -> dict[str, float]:
    gold_doc: dict[str, set[str]] = collections.defaultdict(set)
    rule_doc: dict[str, set[str]] = collections.defaultdict(set)
    for r, (_, labels) in zip(rows, data, strict=True):
        gold_doc[r["policy"]] |= set(r["gold"])
        rule_doc[r["policy"]] |= labels
    chosen = {}
    for item in items:
        cands = sorted(((s[item], i) for i, s in enumerate(scores) if item not in data[i][1]), reverse=True)
        best, best_t, tp, fp = (0, 0), math.inf, 0, 0
        seen_pol: set[str] = set()
        gains = losses = 0
        for n, (s, i) in enumerate(cands):
            pol = rows[i]["policy"]
            if item in rows[i]["gold"]:
                tp += 1
            else:
                fp += 1
            if item not in rule_doc[pol] and pol not in seen_pol:
                seen_pol.add(pol)
                if item in gold_doc[pol]:
                    gains += 1
                else:
                    losses += 1
            if n + 1 < len(cands) and cands[n + 1][0] == s:
                continue  # a threshold admits every passage of equal score: cut between scores only
            if tp / (tp + fp) >= min_precision and gains >= min_gain and gains > losses:
                value = (gains - losses, tp - fp)
                if value > best:
                    best, best_t = value, s
        chosen[item] = best_t
        if report:
            print(f"  cv {item:26s} threshold {best_t:7.3f}  doc gain-loss, passage tp-fp {best}")
    return chosen


def union(data, model: Model, thresholds: dict[str, float]) -> list[set[str]]:
    out = []
    for feats, labels in data:
        added = {
            it
            for it, t in thresholds.items()
            if t < math.inf and it not in labels and model.score(feats, it) >= t
        }
        out.append(labels | added)
    return out


def aggregates(rows: list[dict], preds: list[set[str]], items, opp_map) -> dict:
    opp = "gold_opp" in rows[0]
    tp = fp = fn = 0
    gdoc, pdoc = collections.defaultdict(set), collections.defaultdict(set)
    for r, labels in zip(rows, preds, strict=True):
        if opp:
            gold = set(r["gold_opp"]) & set(opp_map)
            pred = {c for c, ls in opp_map.items() if ls & labels}
        else:
            gold, pred = set(r["gold"]), labels & set(items)
            gdoc[r["policy"]] |= gold
            pdoc[r["policy"]] |= pred
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
    res = {"micro": 2 * tp / max(1, 2 * tp + fp + fn), "tp": tp, "fp": fp, "fn": fn}
    if not opp:
        mt, mf, mn = missing_counts(gdoc, pdoc, items)
        res.update(
            mp=mt / max(1, mt + mf), mr=mt / max(1, mt + mn), m_tp=mt, false_missing=mf, false_present=mn
        )
    return res


def fmt(res: dict, base: list[set[str]] | None = None, preds: list[set[str]] | None = None) -> str:
    line = f"micro {res['micro']:.4f} (tp/fp/fn {res['tp']}/{res['fp']}/{res['fn']})"
    if base is not None and preds is not None:
        line += f"  labels added {sum(len(p - b) for b, p in zip(base, preds, strict=True))}"
    if "mp" in res:
        line += (
            f"  missing P {res['mp']:.3f} R {res['mr']:.3f}"
            f" (true missing {res['m_tp']}, false missing {res['false_missing']},"
            f" false present {res['false_present']})"
        )
    return line


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits", default="/tmp/splits")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--algo", choices=("lr", "nb"), default="lr", help="logistic regression or naive Bayes")
    ap.add_argument("--residual", action="store_true", help="per item, train on what the rules missed")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--top", type=int, default=400, help="features kept per item")
    ap.add_argument("--min-precision", type=float, default=0.4)
    ap.add_argument("--min-gain", type=int, default=2)
    ap.add_argument("--report-cv", action="store_true", help="per-item CV counts (tune half)")
    ap.add_argument("--no-heldback", action="store_true", help="tune half only")
    a = ap.parse_args()
    sys.path.insert(0, str(SHARED_BIN))
    from labels import GDPR_ITEMS, OPP_FROM_LABELS  # type: ignore[import-not-found]

    items = tuple(GDPR_ITEMS)
    splits = Path(a.splits)
    tune = read(splits / "gdpr_t200_tune.jsonl")
    tdata = prepare(tune)
    golds = [set(r["gold"]) for r in tune]
    fold = folds_of(tune, a.folds)
    oof: list[dict[str, float]] = [{} for _ in tune]
    fit = train if a.algo == "lr" else train_nb
    kw: dict = {"top": a.top, "residual": a.residual}
    if a.algo == "lr":
        kw.update(epochs=a.epochs, l2=a.l2)
    for k in range(a.folds):
        tr = [i for i in range(len(tune)) if fold[i] != k]
        model = fit([tdata[i] for i in tr], [golds[i] for i in tr], items, **kw)
        for i in range(len(tune)):
            if fold[i] == k:
                oof[i] = {it: model.score(tdata[i][0], it) for it in items}
    thresholds = choose_thresholds(
        tune, tdata, oof, items, min_precision=a.min_precision, min_gain=a.min_gain, report=a.report_cv
    )
    active = {it: t for it, t in thresholds.items() if t < math.inf}
    print(f"items with additions: {len(active)} {sorted(active)}")
    # the tune half, cross-validated: each passage scored by a model that did not see its policy
    cv_preds = [
        labels | {it for it, t in active.items() if it not in labels and oof[i][it] >= t}
        for i, (_, labels) in enumerate(tdata)
    ]
    rules_only = [labels for _, labels in tdata]
    print("gdpr_t200 tune      rules      ", fmt(aggregates(tune, rules_only, items, OPP_FROM_LABELS)))
    print(
        "gdpr_t200 tune      +model (cv)",
        fmt(aggregates(tune, cv_preds, items, OPP_FROM_LABELS), rules_only, cv_preds),
    )
    model = fit(tdata, golds, items, **kw)
    size = sum(len(w) for _, w in model.weights.values())
    print(f"model trained on the tune half: {size} weights kept")
    started = time.process_time()
    for r, (_, labels) in zip(tune, tdata, strict=True):
        feats = features(r["text"], tuple(r.get("context", [])), None, labels)
        for it in items:
            model.score(feats, it)
    spent = time.process_time() - started
    print(f"model alone (features and 21 scores, no rules): {len(tune) / spent:,.0f} passages/s of CPU time")
    opp_tune = read(splits / "opp115_tune.jsonl")
    odata = prepare(opp_tune)
    print(
        "opp115    tune      rules      ",
        fmt(aggregates(opp_tune, [lb for _, lb in odata], items, OPP_FROM_LABELS)),
    )
    obase, opreds = [lb for _, lb in odata], union(odata, model, active)
    print(
        "opp115    tune      +model     ",
        fmt(aggregates(opp_tune, opreds, items, OPP_FROM_LABELS), obase, opreds),
    )
    if a.no_heldback:
        return
    for corpus in ("gdpr_t200", "opp115"):
        rows = read(splits / f"{corpus}_heldback.jsonl")
        data = prepare(rows)
        base, preds = [lb for _, lb in data], union(data, model, active)
        print(f"{corpus:9s} heldback  rules      ", fmt(aggregates(rows, base, items, OPP_FROM_LABELS)))
        print(
            f"{corpus:9s} heldback  +model     ",
            fmt(aggregates(rows, preds, items, OPP_FROM_LABELS), base, preds),
        )


if __name__ == "__main__":
    main()
