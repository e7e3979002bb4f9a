"""Issue 10, findings 8-14 (server half): each reproducer, over real HTTP, against a real uvicorn server.

Every test asserts that the attack fails the way the README's "Bounds" section documents (a 4xx
envelope, a flag, a closed connection) and that the server answers normal requests within normal
latency right after (`assert_normal`: /healthz and a string_check run in < 1 s), and where the attack
takes time, while it runs. The server is `graders-emulator serve` in its own process (its RSS and
its metric pool are read from /proc and /metrics).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hostile_helpers import (
    AUTH,
    NORMAL_LATENCY_S,
    RUN,
    STRING_CHECK,
    VALIDATE,
    Background,
    Served,
    assert_envelope,
    assert_normal,
    children_of,
    connect,
    health_while,
    metric_value,
    parse_answer,
    read_until_closed,
    rss_bytes,
    served,
    sockets,
)

SETTINGS = {
    "port": 0,
    "python_graders": False,  # the sandbox has its own hostile suite; these bounds come before it
    "head_timeout_s": 1.0,
    "keep_alive_timeout_s": 1.0,
    "metric_timeout_s": 2.0,
    "journal_max_bytes": 8 * 1024 * 1024,
}


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with served(**SETTINGS) as running:
        yield running


def _post(server: Served, path: str, body: object, **kwargs: object) -> httpx.Response:
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {**AUTH, "content-type": "application/json"}
    return httpx.post(server.url + path, content=content, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


# --- finding 10: request heads and connections ------------------------------------------------


def _stream_header(port: int, total: int, chunk: int = 64 * 1024) -> bytes:
    """Send a head with one huge header, chunk by chunk, until the server stops reading; its answer."""
    sock = connect(port)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ")
        sent = 0
        try:
            while sent < total:
                sock.sendall(b"a" * chunk)
                sent += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what the test wants
        return read_until_closed(sock)
    finally:
        sock.close()


def test_huge_header_is_a_431_and_closed_while_healthz_stays_fast(server: Served) -> None:
    """Finding 10: a 300 MB header was accepted, and /healthz took 4-12 s while it streamed."""
    sender = Background(lambda: _stream_header(server.port, 300 * 1024 * 1024))
    latencies = health_while(sender.thread.is_alive, server.url)
    raw = sender.join()
    status, headers, body = parse_answer(raw)
    assert status == 431
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_header_fields_too_large"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert all(latency < NORMAL_LATENCY_S for latency in latencies), latencies
    assert_normal(server.url)


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
        b"GET /healthz?" + b"q" * 17_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["one-17k-header", "101-headers", "17k-request-line"],
)
def test_head_over_the_limits_is_a_431_envelope(server: Served, head: bytes) -> None:
    """Defaults: 16 KiB of request line and headers, 100 headers (README, Bounds)."""
    sock = connect(server.port)
    try:
        sock.sendall(head)
        status, headers, body = parse_answer(read_until_closed(sock))
    finally:
        sock.close()
    assert status == 431 and headers["connection"] == "close"
    assert body["error"]["type"] == "invalid_request_error"
    assert_normal(server.url)


def test_head_at_the_limits_is_served(server: Served) -> None:
    """The bounds leave ordinary heads alone: 99 headers of a total well under 16 KiB."""
    extra = {f"x-h{i}": "v" * 100 for i in range(95)}
    response = httpx.get(f"{server.url}/healthz", headers=extra, timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"], ids=["nothing-sent", "head-never-finished"]
)
def test_a_connection_without_a_complete_head_is_closed_at_the_head_timeout(
    server: Served, sent: bytes
) -> None:
    """Finding 10: idle connections were never closed; at the fd limit every normal client was dropped."""
    sock = connect(server.port)
    try:
        started = time.monotonic()
        sock.sendall(sent)
        assert read_until_closed(sock, timeout_s=5) == b""
        waited = time.monotonic() - started
    finally:
        sock.close()
    assert 0.9 <= waited < 3.0  # head_timeout_s = 1
    assert_normal(server.url)


def test_a_slow_head_does_not_reset_the_head_deadline(server: Served) -> None:
    """One byte every 0.3 s (slowloris) is still closed at the deadline, counted from the first byte."""
    sock = connect(server.port)
    started = time.monotonic()
    closed_after = None
    try:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa":
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
            time.sleep(0.3)
            if closed_after is None and time.monotonic() - started > 5:
                break
        if closed_after is None:
            assert read_until_closed(sock, timeout_s=3) == b""
            closed_after = time.monotonic() - started
    finally:
        sock.close()
    assert closed_after < 3.0


def test_idle_keep_alive_connections_are_closed(server: Served) -> None:
    sock = connect(server.port)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        first = b""
        while b"\r\n\r\n" not in first or not first.endswith(b"}"):  # the whole answer: head and body
            chunk = sock.recv(65536)
            assert chunk, "closed before the answer"
            first += chunk
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_until_closed(sock, timeout_s=5) == b""
        assert time.monotonic() - started < 3.0  # keep_alive_timeout_s = 1
    finally:
        sock.close()


def test_connections_past_the_limit_get_a_503_envelope_and_are_closed() -> None:
    """At max_connections the next connection is answered and closed; freed slots serve again."""
    with served(**{**SETTINGS, "max_connections": 8, "head_timeout_s": 30.0}) as small:
        with sockets(small.port, 8):
            time.sleep(0.2)
            extra = connect(small.port)
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                status, headers, body = parse_answer(read_until_closed(extra))
            finally:
                extra.close()
        assert status == 503 and headers["connection"] == "close"
        assert body["error"]["code"] == "too_many_connections"
        time.sleep(0.2)  # the server sees the 8 closes
        assert_normal(small.url)


# --- finding 8: template amplification --------------------------------------------------------


def test_template_amplification_is_a_400_before_rendering(server: Served) -> None:
    """`{{sample.output_text}}` x 2000 over a 1 MB sample added 2 GB of RSS per request."""
    grader = {**STRING_CHECK, "input": "{{sample.output_text}}" * 2000}
    body = {"grader": grader, "model_sample": "x" * 1_000_000, "item": {"answer": "x"}}
    before = rss_bytes(server.pid)
    started = time.perf_counter()
    error = assert_envelope(_post(server, RUN, body), 400, "invalid_value")
    assert time.perf_counter() - started < 5
    assert error["param"] == "grader.input"
    assert "20971520 characters" in error["message"]  # 2 x the 10 MiB body limit
    assert rss_bytes(server.pid) - before < 200 * 1024 * 1024
    assert_normal(server.url)


def test_rendering_within_the_bound_is_graded(server: Served) -> None:
    """A 1 MB sample used in input and reference (2 MB rendered) is well inside 2 x 10 MiB."""
    grader = {**STRING_CHECK, "input": "{{sample.output_text}}", "reference": "{{sample.output_text}}"}
    body = {"grader": grader, "model_sample": "x" * 1_000_000}
    response = _post(server, RUN, body)
    assert response.status_code == 200 and response.json()["reward"] == 1.0


# --- finding 9: the journal -------------------------------------------------------------------


def test_the_journal_stays_within_its_byte_budget(server: Served) -> None:
    """200 requests of 9 MB took RSS from 285 MB to 2.3 GB. Here: budget 8 MiB, 12 requests of 3 MB."""
    sample = "y" * 3_000_000
    body = {"grader": STRING_CHECK, "model_sample": sample, "item": {"answer": sample}}
    for _ in range(12):
        assert _post(server, RUN, body).status_code == 200
    journal_bytes = metric_value(server.url, "graders_emulator_journal_bytes")
    assert 0 < journal_bytes <= 8 * 1024 * 1024
    assert metric_value(server.url, "graders_emulator_journal_bytes_limit") == 8 * 1024 * 1024
    entries = httpx.get(f"{server.url}/_emulator/journal", params={"limit": 1}, timeout=30).json()["data"]
    entry = entries[-1]
    assert entry["body"].endswith("...[truncated]")  # bodies: 1 MiB per entry
    trace_input = entry["grading"]["trace"]["input"]
    assert len(trace_input) < 70_000 and "truncated by the journal" in trace_input  # texts: 64 Ki each
    assert_normal(server.url)


def test_journal_headers_are_capped() -> None:
    """The journal keeps 16 KiB of headers per entry even where the HTTP limit allows more."""
    headers = {**AUTH, **{f"x-pad-{i}": "p" * 500 for i in range(90)}}  # ~45 KiB
    body = {"grader": STRING_CHECK, "model_sample": "a", "item": {"answer": "a"}}
    with served(**{**SETTINGS, "max_header_bytes": 64 * 1024}) as roomy:
        assert httpx.post(roomy.url + RUN, json=body, headers=headers, timeout=10).status_code == 200
        entry = httpx.get(f"{roomy.url}/_emulator/journal", params={"limit": 1}, timeout=10).json()["data"][
            -1
        ]
    kept = sum(len(k) + len(v) for k, v in entry["headers"].items())
    assert 8 * 1024 < kept <= 16 * 1024


# --- finding 11: single requests that blocked the event loop ---------------------------------


def test_200k_message_score_model_is_a_400_fast(server: Served) -> None:
    """A 200k-message score_model took 10 s of event loop (/healthz waited 9.2 s)."""
    grader = {
        "type": "score_model",
        "name": "judge",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "a"}] * 200_000,
    }
    started = time.perf_counter()
    error = assert_envelope(_post(server, RUN, {"grader": grader, "model_sample": "s"}), 400, "invalid_value")
    assert time.perf_counter() - started < 3
    assert error["param"] == "grader.input" and "1000" in error["message"]
    assert_normal(server.url)


def test_backtracking_rule_regex_is_bounded(server: Served) -> None:
    """`^(a|aa)+$` against 28 `a`s and `!` backtracks for seconds in `re`; here it runs out of time."""
    session = "regex-bomb"
    base = f"{server.url}/_emulator/sessions/{session}"
    rule = {"kind": "model", "match": {"prompt_regex": "^(a|aa)+$"}, "answer": {"score": 1.0}}
    assert httpx.post(f"{base}/rules", json=rule, timeout=10).status_code == 200
    grader = {
        "type": "score_model",
        "name": "j",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "a" * 28 + "!"}],
    }
    started = time.perf_counter()
    response = httpx.post(
        f"{base}/v1/fine_tuning/alpha/graders/run",
        json={"grader": grader, "model_sample": "s"},
        headers=AUTH,
        timeout=30,
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed < 1.0
    calls = httpx.get(f"{base}/journal", timeout=10).json()["data"][-1]["model_calls"]
    assert calls[0]["answered_by"] == "default"
    assert "ran out of matching time" in " ".join(calls[0]["nearest_rule"]["why"])
    assert_normal(server.url)


# A 453-byte "billion laughs": nine levels of nine aliases, 9^9 strings once expanded.
ALIAS_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{','.join(['*' + prev] * 9)}]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_yaml_alias_bomb_is_a_400_fast(server: Served) -> None:
    """A 453-byte YAML alias bomb posted to the control plane froze the server for 117 s."""
    assert len(ALIAS_BOMB.encode()) < 460
    sender = Background(
        lambda: httpx.post(
            f"{server.url}/_emulator/rules",
            content=ALIAS_BOMB,
            headers={"content-type": "application/yaml"},
            timeout=60,
        )
    )
    latencies = health_while(sender.thread.is_alive, server.url)
    response = sender.join()
    assert response.status_code == 400
    assert "100000 values" in response.json()["error"]["message"]
    assert all(latency < NORMAL_LATENCY_S for latency in latencies)
    assert_normal(server.url)


# --- finding 12: metrics without a time limit; abandoned work -----------------------------------

FUZZY = {
    "type": "text_similarity",
    "name": "fuzzy",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference}}",
    "evaluation_metric": "fuzzy_match",
}
BIG = "ab cd " * 170_000  # ~1 MB: fuzzy_match on 1 MB x 1 MB took 28 s


@pytest.mark.parametrize("metric", ["fuzzy_match", "rouge_l"], ids=["fuzzy_match", "rouge_l"])
def test_a_metric_over_its_deadline_is_other_error_and_the_loop_stays_free(
    server: Served, metric: str
) -> None:
    body = {
        "grader": {**FUZZY, "evaluation_metric": metric},
        "model_sample": BIG,
        "item": {"reference": BIG[::-1]},
    }
    killed = metric_value(server.url, "graders_emulator_metric_worker_kills_total")
    sender = Background(lambda: _post(server, RUN, body))
    latencies = health_while(sender.thread.is_alive, server.url)
    response = sender.join()
    assert response.status_code == 200
    answer = response.json()
    assert answer["reward"] == 0.0 and answer["metadata"]["errors"]["other_error"] is True
    details = json.loads(response.headers["x-emulator-flag-details"])["other_error"]
    assert "deadline" in details and "metric_timeout_s" in details
    # the work was stopped, not left running
    assert metric_value(server.url, "graders_emulator_metric_worker_kills_total") == killed + 1
    assert latencies and all(latency < NORMAL_LATENCY_S for latency in latencies)
    assert_normal(server.url)


def test_large_inputs_within_the_deadline_are_scored_out_of_process(server: Served) -> None:
    """Above 2048 characters the metric runs in the pool; its value equals the in-process one."""
    from rapidfuzz import fuzz, utils  # the reference library, called directly (CONTRACT §5)

    text, reference = "the quick brown fox " * 300, "the quick brown cat " * 300
    body = {"grader": FUZZY, "model_sample": text, "item": {"reference": reference}}
    response = _post(server, RUN, body)
    assert response.status_code == 200
    expected = fuzz.WRatio(text, reference, processor=utils.default_process) / 100
    assert response.json()["reward"] == pytest.approx(expected)


def _niceness(pid: int) -> int:
    # /proc/PID/stat: field 19 is the nice value; fields are counted after the command's ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _metric_workers(server_pid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
            if int(fields[1]) == server_pid and b"graders_emulator.metrics.pool_worker" in cmdline:
                pids.append(int(stat.parent.name))
    return pids


def test_metric_workers_run_at_a_lower_priority_than_the_server(server: Served) -> None:
    """A heavy metric yields the CPU to the event loop: its worker is niced below the server."""
    text = "the quick brown fox " * 300
    body = {"grader": FUZZY, "model_sample": text, "item": {"reference": text}}
    assert _post(server, RUN, body).status_code == 200  # over 2048 characters: scored in the pool
    workers = _metric_workers(server.pid)
    assert workers, "no metric worker found under the server"
    expected = min(19, _niceness(server.pid) + 10)  # 19 is the lowest priority (tests may run niced)
    assert all(_niceness(pid) == expected for pid in workers)


def test_a_client_that_gives_up_stops_its_metric(server: Served) -> None:
    """A 2 MB fuzzy_match whose client gave up after 2 s still burned CPU 30 s later."""
    body = {"grader": FUZZY, "model_sample": BIG, "item": {"reference": BIG[::-1]}}
    with served(**{**SETTINGS, "metric_timeout_s": 60.0}) as patient:
        warm_up = {"grader": FUZZY, "model_sample": "a" * 3000, "item": {"reference": "b" * 3000}}
        assert _post(patient, RUN, warm_up).status_code == 200  # starts the pool's worker
        workers = children_of(patient.pid)
        assert len(workers) == 1
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(patient.url + RUN, json=body, headers=AUTH, timeout=2.0)
        deadline = time.monotonic() + 5
        kills = "graders_emulator_metric_worker_kills_total"
        while metric_value(patient.url, kills) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric_value(patient.url, kills) == 1  # killed when the client left, not 60 s later
        assert not set(workers) & set(children_of(patient.pid))  # that worker process is gone
        assert_normal(patient.url)


# --- finding 13: 500s -------------------------------------------------------------------------

DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (
            VALIDATE,
            {
                "grader": {
                    "type": "multi",
                    "graders": {"a": STRING_CHECK},
                    "calculate_output": "+".join(["a"] * 486),
                }
            },
            "grader.calculate_output",
        ),
        (
            RUN,
            {
                "grader": {
                    "type": "multi",
                    "graders": {"a": STRING_CHECK},
                    "calculate_output": "+".join(["a"] * 486),
                },
                "model_sample": "x",
            },
            "grader.calculate_output",
        ),
        (
            VALIDATE,
            {
                "grader": {
                    "type": "multi",
                    "graders": {"a": STRING_CHECK},
                    "calculate_output": "-" * 4000 + "a",
                }
            },
            "grader.calculate_output",
        ),
        (
            RUN,
            '{"grader": {"type": "python", "source": "def grade(s, i): return 1"}, "model_sample": "x", "item": {"d": '
            + DEEP
            + "}}",
            None,
        ),
        (
            RUN,
            '{"grader": {"type": "string_check", "input": "{{item}}", "reference": "a", "operation": "eq"}, "model_sample": "x", "item": {"d": '
            + DEEP
            + "}}",
            None,
        ),
        (
            RUN,
            {
                "grader": {**STRING_CHECK, "input": "{{sample.output_json}}"},
                "model_sample": DEEP,
                "item": {"answer": "a"},
            },
            "model_sample",
        ),
    ],
    ids=[
        "486-term-formula-validate",
        "486-term-formula-run",
        "4000-minus-validate",
        "deep-item-python",
        "deep-item-template",
        "deep-json-sample",
    ],
)
def test_what_was_a_500_is_a_400(server: Served, path: str, body: object, param: str | None) -> None:
    error = assert_envelope(_post(server, path, body), 400, "invalid_value")
    assert error["param"] == param
    assert_normal(server.url)


def test_formulas_at_the_depth_bound_still_evaluate(server: Served) -> None:
    """100 levels is the documented bound: a 90-term sum is graded (90 * 1 - 89 * 1 = 1)."""
    formula = "+".join(["a"] * 90) + "-89*a"
    body = {
        "grader": {"type": "multi", "graders": {"a": STRING_CHECK}, "calculate_output": formula},
        "model_sample": "Paris",
        "item": {"answer": "Paris"},
    }
    response = _post(server, RUN, body)
    assert response.status_code == 200 and response.json()["reward"] == 1.0


def test_json_nesting_at_the_bound_is_accepted(server: Served) -> None:
    """64 levels in all (the body object itself is level 1)."""
    nested = "[" * 62 + "]" * 62  # body(1) > item(2) > 62 lists = 64

    def raw(deep: str) -> str:
        item = {"answer": "Paris", "deep": "DEEP"}
        return json.dumps({"grader": STRING_CHECK, "model_sample": "Paris", "item": item}).replace(
            '"DEEP"', deep
        )

    assert _post(server, RUN, raw(nested)).status_code == 200
    assert_envelope(_post(server, RUN, raw(f"[{nested}]")), 400, "invalid_value")


def test_too_many_sub_graders_is_a_400(server: Served) -> None:
    graders = {f"g{i}": STRING_CHECK for i in range(65)}
    body = {"grader": {"type": "multi", "graders": graders, "calculate_output": "g0"}}
    error = assert_envelope(_post(server, VALIDATE, body), 400, "invalid_value")
    assert error["param"] == "grader.graders" and "64" in error["message"]


# --- finding 14: sessions and rules -------------------------------------------------------------


def test_sessions_are_capped_and_expire_when_idle() -> None:
    """Every new x-emulator-session created state that was never dropped."""
    body = {"grader": STRING_CHECK, "model_sample": "a", "item": {"answer": "a"}}
    with served(**{**SETTINGS, "max_sessions": 5, "session_idle_s": 3.0}) as small:
        for i in range(20):
            headers = {**AUTH, "x-emulator-session": f"s{i}"}
            assert httpx.post(small.url + RUN, json=body, headers=headers, timeout=10).status_code == 200
        assert metric_value(small.url, "graders_emulator_sessions") == 5
        assert sorted(httpx.get(f"{small.url}/_emulator/info", timeout=10).json()["sessions"]) == [
            "s15",
            "s16",
            "s17",
            "s18",
            "s19",
        ]  # the least recently used went first
        time.sleep(3.5)
        assert metric_value(small.url, "graders_emulator_sessions") == 0
        assert_normal(small.url)


def test_rules_per_scope_are_capped() -> None:
    """100k rules slowed score_model from 10 to 790 ms: a scope holds at most max_rules_per_scope."""
    rule = {"kind": "model", "match": {"prompt_contains": "never"}, "answer": {"score": 0.5}}
    with served(**{**SETTINGS, "max_rules_per_scope": 10}) as small:
        added = httpx.post(f"{small.url}/_emulator/rules", json=[rule] * 10, timeout=10)
        assert added.status_code == 200
        refused = httpx.post(f"{small.url}/_emulator/rules", json=rule, timeout=10)
        error = assert_envelope(refused, 400, "rule_limit_reached")
        assert "10" in error["message"]
        assert metric_value(small.url, "graders_emulator_rules") == 10
        assert metric_value(small.url, "graders_emulator_rules_per_scope_limit") == 10
        # a session is its own scope, with its own cap
        session = httpx.post(f"{small.url}/_emulator/sessions/other/rules", json=[rule] * 10, timeout=10)
        assert session.status_code == 200
        assert_normal(small.url)


def test_the_default_rule_cap_keeps_matching_fast(server: Served) -> None:
    """1000 rules (the default cap) that all miss: a score_model answers within normal latency."""
    base = f"{server.url}/_emulator/sessions/many-rules"
    rules = [
        {"kind": "model", "match": {"prompt_contains": f"never-{i}"}, "answer": {"score": 0.5}}
        for i in range(1000)
    ]
    assert httpx.post(f"{base}/rules", json=rules, timeout=30).status_code == 200
    one_more = {"kind": "model", "match": {"prompt_contains": "x"}, "answer": {"score": 0.5}}
    assert_envelope(httpx.post(f"{base}/rules", json=one_more, timeout=10), 400, "rule_limit_reached")
    grader = {
        "type": "score_model",
        "name": "j",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "hi"}],
    }
    started = time.perf_counter()
    response = httpx.post(
        f"{base}/v1/fine_tuning/alpha/graders/run",
        json={"grader": grader, "model_sample": "s"},
        headers=AUTH,
        timeout=30,
    )
    assert response.status_code == 200
    assert time.perf_counter() - started < NORMAL_LATENCY_S
    httpx.post(f"{base}/reset", timeout=10)


def test_metrics_show_every_bounded_state(server: Served) -> None:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for name in (
        "graders_emulator_journal_entries",
        "graders_emulator_journal_entries_limit",
        "graders_emulator_journal_bytes",
        "graders_emulator_journal_bytes_limit",
        "graders_emulator_sessions",
        "graders_emulator_sessions_limit",
        "graders_emulator_rules",
        "graders_emulator_rules_per_scope_limit",
    ):
        assert f"\n{name} " in text, name
