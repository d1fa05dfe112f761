"""$WARDEN_ENGINE picks the engine; the Temporal one is an optional extra, so without its SDK
both ways in (the engine setting and `warden worker`) refuse with the same coded error and fix,
never a traceback. Run in a fresh interpreter where the SDK cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from warden.errors import UsageError
from warden.service.engines import engine_for

_WITHOUT_SDK = """
import json, sys
from pathlib import Path
sys.modules["temporalio"] = None  # as if the extra were not installed
from warden.errors import WardenError
home = Path(sys.argv[1])
out = {}
try:
    from warden.service.engines import engine_for
    engine_for(home)
except WardenError as exc:
    out["engine"] = [exc.code, exc.message, exc.fix]
try:
    from warden.graph.temporal.settings import TemporalSettings
    from warden.worker import run
    run(home, TemporalSettings.from_env())
except WardenError as exc:
    out["worker"] = [exc.code, exc.message, exc.fix]
print(json.dumps(out))
"""


def test_without_the_sdk_the_engine_setting_and_the_worker_refuse_with_the_same_coded_error(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SDK, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "WARDEN_ENGINE": "temporal", "WARDEN_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["engine"][0] == out["worker"][0] == "engine_missing"
    assert out["engine"][2] == out["worker"][2] == "pip install 'warden[temporal]'"
    assert out["engine"][1].startswith("WARDEN_ENGINE=temporal needs the Temporal SDK")
    assert out["worker"][1].startswith("`warden worker` needs the Temporal SDK")
    assert "temporalio" in out["engine"][1]


def test_an_unknown_engine_is_a_usage_error_listing_the_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_ENGINE", "celery")
    with pytest.raises(UsageError) as caught:
        engine_for(tmp_path)
    assert caught.value.code == "bad_engine"
    assert "embedded, temporal" in (caught.value.fix or "")
