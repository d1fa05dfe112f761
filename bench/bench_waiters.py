"""How long another process waits for the DuckDB file while this one analyses back to back.

    python bench/bench_waiters.py [--readers 5] [--every 0.7] [--linger]

One thread of this process runs ``Service.start`` on the Acme notice (the fixture policy: each
run stops at its approval) in a loop; meanwhile a fresh process opens the store read-only
(``Store.connect(read_only=True)``, 120 s lock timeout) `--readers` times, `--every` seconds
apart, and reports how long its connect waited. `--linger` sets the service up as the
server's (``Service.long_lived()``: the file lingers, and a waiting Warden process announces
itself); without it, the file is opened and closed per analysis, as a Warden without the
linger does everywhere (``PYTHONPATH`` pointing at an older ``src`` measures that Warden).
Prints the waits (wall seconds) and the number of analyses run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ACME

_READER = (
    "import sys, time; from warden.store import Store\n"
    "s = Store(sys.argv[1], lock_timeout_s=120)\n"
    "t = time.monotonic()\n"
    "with s.connect(read_only=True) as con:\n"
    "    con.execute('SELECT count(*) FROM runs').fetchone()\n"
    "print(time.monotonic() - t)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=5)
    parser.add_argument("--every", type=float, default=0.7)
    parser.add_argument("--linger", action="store_true")
    args = parser.parse_args()

    from warden.service import Service

    with tempfile.TemporaryDirectory() as name:
        svc = Service(Path(name) / "home", policy=ACME / "policy.yaml")
        if args.linger:
            svc.long_lived()
        ana = svc.principal("ana@acme", writing=True)
        svc.start(ana, ACME / "notice.md", tenant="acme")  # warm-up
        stop = threading.Event()
        took: list[float] = []

        def analyse() -> None:
            while not stop.is_set():
                started = time.monotonic()
                svc.start(ana, ACME / "notice.md", tenant="acme")
                took.append(time.monotonic() - started)

        analyst = threading.Thread(target=analyse)
        analyst.start()
        waits = []
        try:
            for _ in range(args.readers):
                time.sleep(args.every)
                done = subprocess.run(
                    [sys.executable, "-c", _READER, str(svc.store.path)], capture_output=True, text=True
                )
                waits.append(round(float(done.stdout.strip()), 2))
        finally:
            stop.set()
            analyst.join()
        svc.store.close()
    print(json.dumps({"linger": args.linger, "reader_waits_s": waits, "analyses": len(took)}))


if __name__ == "__main__":
    main()
