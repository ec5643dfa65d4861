"""Every ```python block of README.md runs, so the README cannot rot.

Blocks of one ``##`` section share their names, in order (a section reads as one session: the
rate-design lines use the ``graph`` made a block earlier); each section runs in a fresh interpreter
in a temporary folder, with the data root at ../shared/datasets when it is beside the repo. A
section that loads real data is skipped without it. A block that runs "on each rank" gets a
one-rank gloo process group (127.0.0.1) and the shards its comment names, made by the CLI first.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# a section whose code mentions one of these reads real dataset files
NEEDS_DATA = re.compile(r"load_planetoid|load_npz|mnist_pair|mnist_task|libsvm_problem|load\(|a9a")
# sections that are quick starts: each must finish in seconds of CPU (imports included); the
# others reproduce paper settings or start processes and are marked slow
QUICK = {"Graph and Partition", "Cluster-GCN", "Convex ReLU networks"}
QUICK_CPU_SECONDS = 60  # measured: 3, 12 and 17 s of CPU on one thread

# Set-up for blocks that run on every rank of a torch.distributed job: a one-rank group and the
# shards the README's comment asks for (with one shard, for the one rank).
DISTRIBUTED_SETUP = textwrap.dedent("""
    import socket
    import torch.distributed as dist
    from graphopt.cli import main as _cli
    with socket.socket() as _s:
        _s.bind(("127.0.0.1", 0))
        _port = _s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_port}", rank=0, world_size=1)
    assert _cli(["partition", "cora", "--parts", "16", "--shards", "1", "-o", "shards"]) == 0
""")

RUNNER = textwrap.dedent("""
    import json, sys, time
    blocks = json.load(open(sys.argv[1]))
    namespace = {"__name__": "__main__"}
    for block in blocks:
        start = time.perf_counter()
        exec(compile(block["code"], f"README.md:{block['line']}", "exec"), namespace)
        print(f"README.md:{block['line']}: {time.perf_counter() - start:.1f} s", flush=True)
""")


def readme_sections() -> dict[str, list[dict]]:
    """``##`` heading -> the python blocks under it, each with its first line number."""
    sections: dict[str, list[dict]] = {}
    heading, block, start, other_fence = "(top)", None, 0, False
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if other_fence:  # inside a ```bash (or other) block: its "## " lines are not headings
            other_fence = stripped != "```"
        elif block is None and line.startswith("## "):
            heading = line[3:].strip()
        elif block is None and stripped == "```python":
            block, start, indent = [], number + 1, len(line) - len(line.lstrip())
        elif block is None and stripped.startswith("```"):
            other_fence = True
        elif block is not None and stripped == "```":
            sections.setdefault(heading, []).append({"line": start, "code": "\n".join(block)})
            block = None
        elif block is not None:
            block.append(line[indent:] if line[:indent].isspace() else line.lstrip())
    assert block is None, f"README.md: a ```python block opened at line {start} is not closed"
    return sections


SECTIONS = readme_sections()


def test_readme_has_python_blocks():
    assert sum(len(b) for b in SECTIONS.values()) >= 8 and QUICK <= set(SECTIONS)


@pytest.mark.parametrize("heading", [h if h in QUICK else pytest.param(h, marks=pytest.mark.slow)
                                     for h in sorted(SECTIONS)])
def test_readme_section_runs(heading, tmp_path):
    blocks = SECTIONS[heading]
    code = "\n".join(b["code"] for b in blocks)
    data = os.environ.get("GRAPHOPT_DATA")  # tests/conftest.py points it at ../shared/datasets
    if NEEDS_DATA.search(code) and not (data and Path(data, "planetoid", "ind.cora.x").is_file()):
        pytest.skip("the section reads real datasets: place ../shared/datasets beside the repo")
    for b in blocks:
        if "load_shard(" in b["code"] and "get_rank()" in b["code"]:
            b["code"] = DISTRIBUTED_SETUP + b["code"]
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
           "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    before = _children_cpu()
    out = subprocess.run([sys.executable, "-c", RUNNER, str(tmp_path / "blocks.json")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=1800)
    cpu = _children_cpu() - before
    assert out.returncode == 0, f"{heading}:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    if heading in QUICK:
        assert cpu < QUICK_CPU_SECONDS, f"quick-start section {heading!r} took {cpu:.0f} s of CPU:\n{out.stdout}"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
