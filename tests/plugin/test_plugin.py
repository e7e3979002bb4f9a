"""The pytest plugin, used from separate test projects through `pytester` (in subprocesses, xdist included)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from importlib.metadata import entry_points

import example_graders
import httpx
import pytest

import graders_emulator.pytest_plugin
from graders_emulator.testing import RunningServer

pytest_plugins = ["pytester"]

# Keep the in-process servers light: one python worker each (they start with the server).
INI = "[pytest]\ngraders_emulator_python_workers = 1\n"
EXACT = json.dumps(example_graders.EXACT)  # pasted into the generated test modules


def documented_example() -> str:
    """The complete example of the plugin's docstring, exactly as users read it."""
    doc = graders_emulator.pytest_plugin.__doc__ or ""
    block = doc.split("Example (", 1)[1].split("\n\n", 1)[1]
    return textwrap.dedent(block)


@pytest.fixture
def no_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers without a python sandbox: start-up without its seconds of imports (faster tests)."""
    monkeypatch.setenv("GRADERS_EMULATOR_PYTHON_GRADERS", "false")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", *args, timeout=240)


def test_registered_as_a_pytest11_entry_point() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("graders_emulator") == "graders_emulator.pytest_plugin"


def test_the_documented_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_example=documented_example())
    result = run(pytester)
    result.assert_outcomes(passed=5)


@pytest.mark.usefixtures("no_python")
def test_each_xdist_worker_has_its_own_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_workers=f"""
        import json, os, pathlib
        import pytest

        EXACT = {EXACT}

        @pytest.mark.parametrize("n", range(8))
        def test_isolated(graders_emulator, n):
            graders_emulator.fail_next(500, times=1)
            with graders_emulator.make_client(max_retries=1) as client:
                result = client.fine_tuning.alpha.graders.run(
                    grader=EXACT, model_sample="Paris", item={{"answer": "Paris"}}
                )
            assert result.reward == 1.0
            # reset between tests: only this test's two requests are in the journal
            assert [e["status"] for e in graders_emulator.journal()] == [500, 200]
            out = pathlib.Path(os.environ["RESULTS_DIR"]) / f"{{os.environ.get('PYTEST_XDIST_WORKER')}}-{{n}}"
            out.write_text(graders_emulator.base_url)
        """
    )
    results = pytester.mkdir("results")
    monkeypatch.setenv("RESULTS_DIR", str(results))  # read by the subprocess
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=8)
    urls = {path.name.split("-")[0]: path.read_text() for path in results.iterdir()}
    assert set(urls) == {"gw0", "gw1"}
    assert urls["gw0"] != urls["gw1"]  # two servers, one per worker


def test_shared_server_with_a_session_per_worker(pytester: pytest.Pytester, emulator: RunningServer) -> None:
    pytester.makepyfile(
        test_shared=f"""
        EXACT = {EXACT}

        def test_rules_and_journal_are_per_worker(graders_emulator):
            assert "/_emulator/sessions/pytest-" in graders_emulator.base_url
            graders_emulator.force_errors("other_error", details="forced", times=None)
            for _ in range(3):
                result = graders_emulator.client.fine_tuning.alpha.graders.run(grader=EXACT, model_sample="x")
                assert result.metadata.errors.other_error
            assert len(graders_emulator.journal()) == 3

        def test_second(graders_emulator):
            assert graders_emulator.journal() == [] and graders_emulator.rules() == []
        """
    )
    result = run(pytester, "-n", "2", f"--graders-emulator-url={emulator.url}")
    result.assert_outcomes(passed=2)


@pytest.mark.usefixtures("no_python")
def test_options_from_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        rules="models:\n  - grader: {name: judge, type: score_model}\n    answer: {score: 0.42, usage: {prompt_tokens: 7, completion_tokens: 3}}\n",
    )
    pytester.makeini(INI + "graders_emulator_config = rules.yaml\ngraders_emulator_profile = spec\n")
    judge = {
        "type": "score_model",
        "name": "judge",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "x"}],
    }
    pytester.makepyfile(
        test_options=f"""
        JUDGE = {json.dumps(judge)}

        def test_config_rule_answers_in_spec_profile(graders_emulator):
            response = graders_emulator.client.fine_tuning.alpha.graders.with_raw_response.run(
                grader=JUDGE, model_sample="x"
            )
            body = response.http_response.json()
            assert body["reward"] == 0.42
            assert body["metadata"]["token_usage"] == 10  # the spec profile's integer form
            assert graders_emulator.info()["response_profile"] == "spec"

        def test_config_rules_survive_reset(graders_emulator):
            assert [rule["source"] for rule in graders_emulator.rules()] == ["config"]
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        ["*graders emulator*", "*--graders-emulator-config*", "*--graders-emulator-url*"]
    )


@pytest.fixture(scope="module")
def served_url() -> Iterator[str]:
    """A real `graders-emulator serve --port 0`: the URL it prints (`http://127.0.0.1:PORT/v1`)."""
    env = {**os.environ, "GRADERS_EMULATOR_PYTHON_GRADERS": "false"}
    command = [sys.executable, "-c", "from graders_emulator.cli import main; main()", "serve", "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # the first line, printed once the socket is bound
        printed = re.search(r"listening on (http://\S+)", line)
        assert printed is not None, line
        url = printed.group(1)
        assert url.endswith("/v1"), url
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # bounded wait until it answers
            try:
                if httpx.get(url.removesuffix("/v1") + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("graders-emulator serve did not answer /healthz within 60 s")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
        if server.stdout is not None:
            server.stdout.close()


@pytest.mark.parametrize(
    ("form", "where"),
    [("printed", "command-line"), ("root", "command-line"), ("printed", "ini"), ("root", "ini")],
    ids=["v1-url-on-command-line", "root-url-on-command-line", "v1-url-in-ini", "root-url-in-ini"],
)
def test_url_option_takes_the_printed_v1_url_or_the_root(
    pytester: pytest.Pytester, served_url: str, form: str, where: str
) -> None:
    """`serve` prints `.../v1`; the plugin takes that as well as the root, and talks to that server."""
    root = served_url.removesuffix("/v1")
    given = served_url if form == "printed" else root
    pytester.makepyfile(
        test_external=f"""
        EXACT = {EXACT}

        def test_runs_on_the_given_server(graders_emulator):
            assert graders_emulator.url == {root!r}
            assert graders_emulator.base_url.startswith({root!r} + "/_emulator/sessions/pytest-")
            assert graders_emulator.base_url.endswith("/v1") and "/v1/" not in graders_emulator.base_url
            result = graders_emulator.client.fine_tuning.alpha.graders.run(
                grader=EXACT, model_sample="Paris", item={{"answer": "Paris"}}
            )
            assert result.reward == 1.0
            assert [e["status"] for e in graders_emulator.journal()] == [200]
        """
    )
    if where == "ini":
        pytester.makeini(f"[pytest]\ngraders_emulator_url = {given}\n")
        result = run(pytester)
    else:
        result = run(pytester, f"--graders-emulator-url={given}")
    result.assert_outcomes(passed=1)


OWN_APP_MAIN = """
from fastapi import FastAPI

app = FastAPI()


def greet(name: str) -> str:
    return f"hello {name}"


@app.get("/hello/{name}")
def hello(name: str) -> dict[str, str]:
    return {"message": greet(name)}
"""

OWN_TESTS = f"""
import pathlib

import pytest
from fastapi.testclient import TestClient

import app
from app.main import app as api, greet

EXACT = {EXACT}


def test_own_package_is_imported():
    assert pathlib.Path(app.__file__).parent == pathlib.Path(__file__).parents[1] / "app"


def test_own_function():
    assert greet("you") == "hello you"


def test_own_route():
    with TestClient(api) as client:
        assert client.get("/hello/you").json() == {{"message": "hello you"}}


@pytest.mark.parametrize("n", range(3))
def test_grades_through_the_emulator_fixture(graders_emulator, n):
    result = graders_emulator.client.fine_tuning.alpha.graders.run(
        grader=EXACT, model_sample=greet("you"), item={{"answer": "hello you"}}
    )
    assert result.reward == 1.0
    assert len(graders_emulator.journal()) == 1
"""


@pytest.mark.usefixtures("no_python")
@pytest.mark.timeout(600)  # a pytester run of xdist workers, each starting a server, on a shared machine
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one-process", "xdist-2-workers"])
def test_user_project_with_its_own_app_package(pytester: pytest.Pytester, xdist: list[str]) -> None:
    """The standard FastAPI layout (`app/main.py`, tests doing `from app.main import ...`) keeps its
    own `app` and uses the plugin's fixture: nothing of ours is named `app` (issue 9)."""
    pytester.makeini(INI + "pythonpath = .\ntestpaths = tests\n")
    pytester.mkpydir("app")
    pytester.path.joinpath("app", "main.py").write_text(textwrap.dedent(OWN_APP_MAIN))
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_own.py").write_text(textwrap.dedent(OWN_TESTS))
    result = run(pytester, *xdist)
    result.assert_outcomes(passed=6)
