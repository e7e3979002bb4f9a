"""Batch grading of JSONL datasets: the offline subcommands `grade`, `validate` and `run`.

`cli` (parsers and handlers) -> `engine` (routing lines to a process pool or the event loop) ->
`grading` (one line through `graders_emulator.service`, as the server grades a request), with
`input` (rows -> run requests), `worker` (the pool side), `output` (ordered results file),
`summary` (statistics) and `report` (the human summary).
"""
