"""The bench says how much other work shared the machine during each step
(``bench.other_cpu_seconds``): the CPU seconds of every process but the bench's own, read
from the kernel's busy time. Its wall seconds mean little when that is large."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from orders_pipeline.bench import machine_busy_seconds, other_cpu_seconds

pytestmark = pytest.mark.skipif(
    not Path("/proc/stat").exists(), reason="the machine's busy time is read from /proc/stat"
)

# about a second of one core's work, whatever the machine's speed or load
BURN = "n = 0\nfor i in range(15_000_000):\n    n += i\n"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_a_process_the_bench_does_not_own_counts_as_other_work():
    busy_before, children_before = machine_busy_seconds(), _children_cpu()
    subprocess.run([sys.executable, "-c", BURN], check=True)
    burned = _children_cpu() - children_before
    # the bench's own seconds: none (the burner is "another process")
    other = other_cpu_seconds(busy_before, 0.0)
    assert other is not None
    # everything else running can only add to it; the kernel counts in ticks (10 ms)
    assert other >= burned - 0.1, (other, burned)


def test_the_bench_s_own_work_is_not_other_work():
    busy_before, children_before = machine_busy_seconds(), _children_cpu()
    subprocess.run([sys.executable, "-c", BURN], check=True)
    burned = _children_cpu() - children_before
    with_own = other_cpu_seconds(busy_before, burned)
    without = other_cpu_seconds(busy_before, 0.0)
    assert with_own is not None and without is not None
    assert with_own >= 0
    # the same busy time, less the seconds the bench owns (read a moment later: ≥)
    assert without - with_own >= burned - 0.1
