"""The runner used when python graders are turned off by setting."""

from __future__ import annotations

from graders_emulator.grading.context import BaseSandbox, PythonJob, PythonOutcome


class DisabledSandbox(BaseSandbox):
    """Answers every python grader with `python_grader_server_error`, type `disabled`."""

    async def run(self, job: PythonJob) -> PythonOutcome:
        return PythonOutcome(
            server_error_type="disabled",
            server_error_details="python graders are turned off by GRADERS_EMULATOR_PYTHON_GRADERS=false",
        )
