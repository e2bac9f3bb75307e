"""Inputs built to exhaust the loader are refused early, cheaply and in the usual error form.

Each spec runs through ``obsgen generate`` in its own process, started by a small Python wrapper that
reports ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the peak RSS of that one process (measured
from the test process itself, it would include the test process's own memory, which a fork copies).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

OBSGEN = Path(sys.executable).with_name("obsgen")
PEAK_RSS_MB = 100
MEASURE = ("import resource, subprocess, sys; "
           "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
           "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")


def alias_bomb() -> str:
    """The "billion laughs" shape: 9 levels of 9 aliases each expand to 9**9 strings from 1 KB of YAML."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def deep_nesting(levels: int = 2000) -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(levels)) + "  " * levels + "x: 1\n"


def huge(megabytes: int = 50) -> str:
    line = "# " + "x" * 98 + "\n"
    return "version: 1\n" + line * (megabytes * 1024 * 1024 // len(line))


CASES = {
    "alias-bomb": (alias_bomb, r"expands to more than 50,000 values"),
    "deep-nesting": (deep_nesting, r"nested more than 64 levels deep"),
    "deep-flow-nesting": (lambda: "a: " + "[" * 2000 + "]" * 2000 + "\n", r"nesting|nested"),
    "50-mb-spec": (huge, r"over the limit of 5,242,880"),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, int, str, Path]]:
    """Every case run at once (one process each); name → (exit code, peak RSS in MB, stderr, output dir)."""
    root = tmp_path_factory.mktemp("limits")
    running = {}
    for name, (make, _) in CASES.items():
        spec = root / f"{name}.yaml"
        spec.write_text(make())
        out = root / f"out-{name}"
        running[name] = (subprocess.Popen([sys.executable, "-c", MEASURE, str(OBSGEN), "generate", str(spec),
                                           "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True), out)
    results = {}
    for name, (process, out) in running.items():
        stdout, stderr = process.communicate()
        code, peak_mb = map(int, stdout.split())
        results[name] = (code, peak_mb, stderr, out)
    return results


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_spec_is_refused_with_file_line_and_little_memory(
        outcomes: dict[str, tuple[int, int, str, Path]], name: str) -> None:
    code, peak_mb, stderr, out = outcomes[name]
    assert code == 2, stderr
    first = stderr.splitlines()[0]
    assert re.match(rf"^\S+{re.escape(name)}\.yaml:\d+: \(top level\): .+ — .+$", first), first
    assert re.search(CASES[name][1], first), first
    assert "Traceback" not in stderr
    assert peak_mb < PEAK_RSS_MB, f"peak RSS {peak_mb} MB"
    assert not out.exists()
