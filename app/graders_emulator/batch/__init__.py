"""Batch grading of JSONL datasets: the offline subcommands `grade`, `validate` and `run`.

`cli` (parsers and handlers) -> `engine` (routing lines to a process pool or the event loop) ->
`grading` (lines parsed as the server parses a request, graded through the library face), with
`input` (rows -> run requests), `worker` (the pool side), `output` (ordered results file),
`summary` (statistics) and `report` (the human summary).
"""
