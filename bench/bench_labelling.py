"""Labelling throughput of the offline passage labeller on one core: passages per second.

    python bench/bench_labelling.py [--runs 5] [--corpus FILE.jsonl]

Uses ../shared/data/dev/*.jsonl when present (read only, at run time), else a corpus of
notice-like passages it builds itself. Prints each run and the medians, by wall-clock time and
by the CPU time of the process (the same on an idle machine; on a shared one, wall time also
counts the time other processes held the core).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from warden_analysers.policy_practices.batch import label_rows, parse_rows
from warden_analysers.policy_practices.engine import default_labeller

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"

_SENTENCES = [
    "We collect your name, email address and phone number when you create an account.",
    "We use this information to provide and improve the service and to respond to you.",
    "We share your data with service providers who host the app on our behalf.",
    "We keep your personal data for as long as your account is active.",
    "You have the right to access, correct or delete your personal data.",
    "You may withdraw your consent at any time in the app settings.",
    "Contact our privacy team at privacy@example.org with any questions.",
    "Your data may be transferred to servers located outside the European Economic Area.",
    "We take reasonable security measures to protect your information.",
    "This app is not directed at children under the age of 13.",
    "We may update this policy from time to time and will post the new version here.",
    "Thank you for reading this notice.",
]
_HEADINGS = [
    "Information We Collect",
    "How We Use Information",
    "Sharing",
    "Data Retention",
    "Your Rights",
    "Contact Us",
    "Security",
    "Children",
]


def _built_corpus(size: int = 5000) -> list[str]:
    rng = random.Random(7)
    return [
        json.dumps(
            {
                "id": f"b{i}",
                "text": rng.choice(_SENTENCES),
                "context": ["Privacy Policy", rng.choice(_HEADINGS)],
            }
        )
        for i in range(size)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path, action="append", help="JSONL rows (repeatable)")
    args = parser.parse_args()
    files = args.corpus or sorted(SHARED.glob("*.jsonl"))
    lines = [line for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    source = ", ".join(str(f) for f in files) if lines else "built-in corpus"
    if not lines:
        lines = _built_corpus()
    rows = list(parse_rows(lines))
    default_labeller()  # rules load once per process; time the labelling, not the loading
    rates, cpu_rates = [], []
    for run in range(1, args.runs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        count = sum(1 for _ in label_rows(rows))
        rate = count / (time.perf_counter() - start)
        cpu_rate = count / (time.process_time() - cpu_start)
        rates.append(rate)
        cpu_rates.append(cpu_rate)
        print(f"run {run}: {count} passages, {rate:,.0f} passages/s wall, {cpu_rate:,.0f}/s of CPU time")
    print(
        json.dumps(
            {
                "corpus": source,
                "passages": len(rows),
                "runs": args.runs,
                "median_passages_per_s": round(statistics.median(rates), 1),
                # CPU time of this process: the figure for one core when the machine is shared
                "median_passages_per_cpu_s": round(statistics.median(cpu_rates), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
