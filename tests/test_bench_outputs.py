"""Every benchmark refuses an output path in a missing folder when it parses its arguments, not
after minutes of work (graphopt never creates parent folders)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("bench_*.py")
                 if re.search(r'add_argument\("--(out|json)"', p.read_text()))


def test_every_benchmark_with_an_output_is_covered():
    assert len(SCRIPTS) >= 14


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_missing_output_folder_is_refused_at_parse_time(script, tmp_path):
    flag = "--out" if re.search(r'add_argument\("--out"', script.read_text()) else "--json"
    missing = tmp_path / "no-such-folder" / "result.json"
    out = subprocess.run([sys.executable, str(script), flag, str(missing)], capture_output=True,
                         text=True, timeout=180, cwd=BENCHMARKS.parent)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "does not exist" in out.stderr and "create it first" in out.stderr
    assert not missing.parent.exists()
