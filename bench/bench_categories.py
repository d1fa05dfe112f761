"""The data-category matcher with and without its prefilter: CPU seconds over a corpus.

    python bench/bench_categories.py [--runs 3] [--corpus FILE.jsonl ...]

Uses ../shared/data/dev/*.jsonl when present (read only, at run time), else the passages of
the bundled notices. "unfiltered" runs every lexicon term over every passage, as the matcher
did before it had a prefilter; the bench first checks both find the same mentions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from warden_analysers.policy_practices.categories import CategoryMatcher, default_matcher
from warden_analysers.policy_practices.loader import load_lexicon

from warden.documents import load_document

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "dev"
NOTICES = REPO / "fixtures" / "notices"


def _texts(files: list[Path]) -> tuple[list[str], str]:
    if files:
        rows = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]
        return [r["text"] for r in rows], ", ".join(str(f) for f in files)
    notices = [f for f in sorted(NOTICES.iterdir()) if f.suffix in {".html", ".txt", ".docx", ".pdf", ".md"}]
    return [p.text for f in notices for p in load_document(f).passages], "bundled notices"


def _cpu_seconds(matcher: CategoryMatcher, texts: list[str]) -> float:
    start = time.process_time()
    for text in texts:
        matcher.find(text)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, action="append", help="JSONL rows (repeatable)")
    args = parser.parse_args()
    texts, source = _texts(args.corpus or sorted(SHARED.glob("*.jsonl")))
    prefiltered = default_matcher()
    unfiltered = CategoryMatcher([(t.key, t.text) for t in load_lexicon().terms], prefilter=False)
    differing = sum(prefiltered.find(t) != unfiltered.find(t) for t in texts)
    times = {"prefiltered": [], "unfiltered": []}
    for run in range(1, args.runs + 1):
        for name, matcher in (("prefiltered", prefiltered), ("unfiltered", unfiltered)):
            times[name].append(_cpu_seconds(matcher, texts))
        filtered, every = times["prefiltered"][-1], times["unfiltered"][-1]
        print(f"run {run}: prefiltered {filtered:.2f} s, unfiltered {every:.2f} s of CPU")
    medians = {name: round(statistics.median(ts), 3) for name, ts in times.items()}
    print(
        json.dumps(
            {
                "corpus": source,
                "passages": len(texts),
                "passages_with_different_mentions": differing,
                "median_cpu_s": medians,
                "speed_up": round(medians["unfiltered"] / medians["prefiltered"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
