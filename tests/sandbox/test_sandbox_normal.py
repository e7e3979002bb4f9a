"""Realistic graders and every error mapping, in both protection modes."""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import pytest
from sandbox_helpers import PoolHandle, wait_until, zygote_pids

FUZZY_MATCH = """
from rapidfuzz import fuzz, utils

def grade(sample, item) -> float:
    output_text = sample["output_text"]
    reference_answer = item["reference_answer"]
    return fuzz.WRatio(output_text, reference_answer, processor=utils.default_process) / 100
"""

NUMPY_GRADER = """
import numpy as np

def grade(sample, item):
    predicted = np.array(sample["output_json"]["values"], dtype=float)
    expected = np.array(item["expected"], dtype=float)
    print("rmse input", predicted.tolist())
    return float(np.exp(-np.sqrt(np.mean((predicted - expected) ** 2))))
"""

JSONSCHEMA_GRADER = """
import jsonschema

SCHEMA = {"type": "object", "required": ["name", "age"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}

def grade(sample, item):
    try:
        jsonschema.validate(sample["output_json"], SCHEMA)
    except jsonschema.ValidationError as exc:
        print("invalid:", exc.message)
        return 0.0
    return 1.0
"""


def _sample(text: str) -> dict[str, object]:
    sample: dict[str, object] = {"output_text": text, "output_tools": [], "choices": []}
    with contextlib.suppress(ValueError):
        sample["output_json"] = json.loads(text)
    return sample


def test_fuzzy_match_grader_from_openais_guide(pool: PoolHandle) -> None:
    exact = pool.run(FUZZY_MATCH, _sample("Paris"), {"reference_answer": "paris"})
    close = pool.run(FUZZY_MATCH, _sample("The capital is Paris"), {"reference_answer": "Paris"})
    assert exact.value == 1.0
    assert close.value is not None and 0.5 < close.value < 1.0
    assert exact.runtime_error is None and exact.server_error_type is None


def test_numpy_grader_and_its_stdout(pool: PoolHandle) -> None:
    outcome = pool.run(NUMPY_GRADER, _sample('{"values": [1, 2, 3]}'), {"expected": [1, 2, 3]})
    assert outcome.value == 1.0
    assert outcome.stdout == "rmse input [1.0, 2.0, 3.0]\n"


@pytest.mark.parametrize(
    ("text", "expected", "printed"),
    [
        ('{"name": "Ada", "age": 36}', 1.0, ""),
        ('{"name": "Ada", "age": -1}', 0.0, "invalid: -1 is less than"),
    ],
    ids=["valid", "invalid"],
)
def test_jsonschema_grader(pool: PoolHandle, text: str, expected: float, printed: str) -> None:
    outcome = pool.run(JSONSCHEMA_GRADER, _sample(text))
    assert outcome.value == expected
    assert outcome.stdout.startswith(printed)


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        ("3", 3.0),
        ("-2.5", -2.5),
        ("7.25", 7.25),
        ("__import__('numpy').float32(0.5)", 0.5),
        ("10**300", 1e300),
    ],
    ids=["int", "negative", "unclamped", "numpy-float32", "big-int"],
)
def test_value_is_a_float_unclamped(pool: PoolHandle, returned: str, expected: float) -> None:
    outcome = pool.run(f"def grade(sample, item):\n    return {returned}\n")
    assert outcome.value == expected
    assert isinstance(outcome.value, float)
    assert outcome.elapsed_s > 0


def test_sample_and_item_arrive_as_given(pool: PoolHandle) -> None:
    source = "import json\ndef grade(sample, item):\n    print(json.dumps([sample, item], sort_keys=True))\n    return 1"
    sample = _sample('{"a": [1, null, "é"]}')
    item = {"reference_answer": "x", "nested": {"list": [1.5, True, None]}}
    outcome = pool.run(source, sample, item)
    assert json.loads(outcome.stdout) == [sample, item]


def test_stderr_is_captured_with_stdout(pool: PoolHandle) -> None:
    source = "import sys\ndef grade(s, i):\n    print('out')\n    print('err', file=sys.stderr)\n    return 1"
    outcome = pool.run(source)
    assert outcome.value == 1.0
    assert "out" in outcome.stdout and "err" in outcome.stdout


def test_private_writable_temp_dir(pool: PoolHandle) -> None:
    source = """
import os, tempfile
def grade(sample, item):
    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("hello")
    with open("local.txt", "w") as handle:
        handle.write("there")
    return float(os.path.getsize(handle.name) + len(open(handle.name).read())) + (os.getcwd() == os.environ["TMPDIR"])
"""
    assert pool.run(source).value == 11.0


def test_files_do_not_survive_into_the_next_job(pool: PoolHandle) -> None:
    pool.run("def grade(s, i):\n    open('left.txt', 'w').write('x')\n    return 1")
    assert pool.run("import os\ndef grade(s, i):\n    return float(os.path.exists('left.txt'))").value == 0.0


def test_threads_still_work(pool: PoolHandle) -> None:
    source = """
from concurrent.futures import ThreadPoolExecutor
def grade(sample, item):
    with ThreadPoolExecutor(4) as ex:
        return float(sum(ex.map(lambda x: x * x, range(10))))
"""
    assert pool.run(source).value == 285.0


def test_unknown_image_tag_still_runs(pool: PoolHandle) -> None:
    assert pool.run("def grade(s, i):\n    return 1", image_tag="2099-01-01").value == 1.0
    assert "2099-01-01" in pool.pool.protections()["image_tags_seen"]  # type: ignore[operator]


# ---------------------------------------------------------------------------------------------
# Error mappings: the grader's own faults are runtime errors naming the cause


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def grade(s, i):\n    raise ValueError('boom')", r"^ValueError: boom\nTraceback .*line 2, in grade"),
        ("def grade(s, i):\n    return 'abc'", r"got str"),
        ("def grade(s, i):\n    return True", r"got bool"),
        ("def grade(s, i):\n    return None", r"got NoneType"),
        ("def grade(s, i):\n    return float('nan')", r"returned nan; the reward must be a finite number"),
        ("def grade(s, i):\n    return float('-inf')", r"returned -inf"),
        ("def grade(s, i):\n    return 10**400", r"OverflowError: int too large to convert to float"),
        ("def score(s, i):\n    return 1", r"does not define grade\(sample, item\)"),
        ("grade = 3", r"does not define grade"),
        ("def grade(s, i)\n    return 1", r"^SyntaxError"),
        ("import no_such_package_here\ndef grade(s, i):\n    return 1", r"ModuleNotFoundError: No module named"),
        ("def grade(s):\n    return 1", r"TypeError: grade\(\) takes 1 positional argument"),
        ("import sys\ndef grade(s, i):\n    sys.exit(3)", r"SystemExit: 3"),
        ("raise KeyError('at import')", r"KeyError: 'at import'"),
    ],
    ids=[
        "raises", "str", "bool", "none", "nan", "inf", "overflow", "no-grade", "grade-not-callable",
        "syntax-error", "missing-module", "wrong-signature", "sys-exit", "raises-at-import",
    ],
)  # fmt: skip
def test_runtime_error_mapping(pool: PoolHandle, source: str, expected: str) -> None:
    outcome = pool.run(source)
    assert outcome.value is None and outcome.server_error_type is None
    assert outcome.runtime_error is not None
    assert re.search(expected, outcome.runtime_error, re.S), outcome.runtime_error


def test_protections_report(pool: PoolHandle, mode: str) -> None:
    assert wait_until(lambda: pool.pool.protections()["warm"] == 2, timeout=60)
    found = pool.pool.protections()
    assert found["mode"] == mode
    assert found["landlock"] and found["seccomp"]
    assert found["workers"] == 2 and found["warm"] == 2
    assert found["rlimits"] == ["CPU", "AS", "NOFILE", "FSIZE", "CORE", "NPROC"]
    namespaces = mode == "root-namespaces"
    assert found["netns"] is namespaces and found["mountns_tmpfs"] is namespaces
    assert found["pidns"] is False  # only a fallback when Landlock cannot scope signals (ABI < 6)
    assert "numpy" in found["preloaded"]  # type: ignore[operator]


def _huge_pages_state() -> str:
    """ "collapse" (MADV_COLLAPSE: Linux 6.1, THP not off), "off", or "old" (a kernel without it)."""
    try:
        enabled = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "off"
    release = tuple(int(part) for part in re.findall(r"\d+", os.uname().release)[:2])
    return "off" if "[never]" in enabled else "collapse" if release >= (6, 1) else "old"


def _anon_huge_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1]) >> 10
    return 0


def test_zygotes_keep_the_preloaded_heap_in_huge_pages(pool: PoolHandle) -> None:
    """Forking a spare copies one page-table entry per 2 MiB there: what keeps a spare cheap to make."""
    assert wait_until(lambda: pool.pool.protections()["warm"] == 2, timeout=60)
    zygotes = zygote_pids(pool.pool.token)
    assert len(zygotes) == 2
    measured = [_anon_huge_mb(pid) for pid in zygotes]
    reported = pool.pool.protections()["zygote_huge_pages_mb"]
    assert isinstance(reported, int)
    state = _huge_pages_state()
    if state == "collapse":  # numpy, scipy, pandas, sympy and sklearn leave far more than 32 MiB of heap
        assert min(measured) >= 32 and reported >= 32, (measured, reported)
    elif state == "off":
        assert measured == [0, 0] and reported == 0
