"""What each Evals and Files endpoint does: parse and check the request, read and write the store.

The routers stay thin: they pass the session, the parsed query and the JSON body here and send back
the dict they get. Every malformed request is an `ApiError` in OpenAI's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from graders_emulator import templating, validation
from graders_emulator.errors import BadRequest, NotFound, validation_error
from graders_emulator.evals import criteria as criteria_module
from graders_emulator.evals import rows as rows_module
from graders_emulator.evals.executor import TERMINAL, RunExecutor, Tally
from graders_emulator.evals.objects import (
    Profile,
    check_metadata,
    custom_schema,
    file_object,
    list_body,
    new_file_id,
    new_id,
    no_error,
    now,
    reported_purpose,
)
from graders_emulator.evals.store import EvalStore, Kind, Order, Query, UnknownCursor
from graders_emulator.schemas.base import WireModel
from graders_emulator.schemas.evals import (
    CompletionsRunDataSource,
    CreateEvalRequest,
    CreateRunRequest,
    CustomDataSourceConfig,
    FileIdSource,
    ResponsesRunDataSource,
    StoredCompletionsSource,
    TemplateInputMessages,
    UpdateEvalRequest,
)
from graders_emulator.service import Runtime

_Model = TypeVar("_Model", bound=WireModel)

# What cannot be emulated offline: each answers a 400 that says so (README, "Evals API").
OFFLINE = (
    " The emulator runs offline and has no store of past {what} to query; give the rows with a "
    "`custom` data source config and a `jsonl` or `completions` run (file_content or file_id)."
)
NOT_EMULATED = {
    "logs": "Data source config 'logs' is not emulated." + OFFLINE.format(what="logs"),
    "stored_completions": "'stored_completions' is not emulated." + OFFLINE.format(what="chat completions"),
    "responses": "Run data source 'responses' is not emulated." + OFFLINE.format(what="responses"),
}
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


@dataclass(frozen=True)
class ListParams:
    """Cursor pagination as OpenAI does it."""

    after: str | None
    limit: int
    order: Order


def _not_found(kind: str, object_id: str, param: str) -> NotFound:
    return NotFound(f"No {kind} found with id '{object_id}'.", param=param)


class EvalsOperations:
    """The Evals and Files APIs over one store and one run executor."""

    def __init__(self, store: EvalStore, executor: RunExecutor, runtime: Runtime, profile: Profile) -> None:
        self.store = store
        self.executor = executor
        self.runtime = runtime
        self.profile = profile

    # --- helpers

    def _parse(self, model: type[_Model], data: Any) -> _Model:
        if not isinstance(data, dict):
            raise BadRequest("Invalid type for body: expected an object.", code="invalid_type")
        try:
            parsed = model.model_validate(data)
        except ValidationError as exc:
            raise validation_error(data, exc.errors()) from None
        if self.runtime.strict:
            validation.check_no_extras(parsed)
        return parsed

    def _page(self, kind: Kind, session: str | None, params: ListParams, **filters: Any) -> dict[str, Any]:
        try:
            page = self.store.page(
                Query(kind, session, after=params.after, limit=params.limit, order=params.order, **filters)
            )
        except UnknownCursor:
            raise BadRequest(
                f"Invalid value for 'after': no object with id '{params.after}' in this list.",
                param="after",
                code="invalid_value",
            ) from None
        return list_body(page, self.profile)

    # --- files

    def create_file(self, session: str | None, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        body = file_object(new_file_id(), filename, purpose, len(content), now())
        self.store.put("file", session, body, status=purpose)  # the status column filters by purpose
        self.store.put_content(session, body["id"], content)
        return self._file_wire(body)

    def _file_wire(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "purpose": reported_purpose(body["purpose"], self.profile)}

    def _file(self, session: str | None, file_id: str) -> dict[str, Any]:
        body = self.store.get("file", session, file_id)
        if body is None:
            raise NotFound(f"No such File object: {file_id}", param="id")
        return body

    def get_file(self, session: str | None, file_id: str) -> dict[str, Any]:
        return self._file_wire(self._file(session, file_id))

    def list_files(self, session: str | None, params: ListParams, purpose: str | None) -> dict[str, Any]:
        page = self._page("file", session, params, status=purpose)
        page["data"] = [self._file_wire(f) for f in page["data"]]
        return page

    def file_content(self, session: str | None, file_id: str) -> bytes:
        self._file(session, file_id)
        return self.store.content(session, file_id) or b""

    def delete_file(self, session: str | None, file_id: str) -> dict[str, Any]:
        self._file(session, file_id)
        self.store.delete("file", session, file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    # --- evals

    def create_eval(self, session: str | None, data: Any) -> dict[str, Any]:
        request = self._parse(CreateEvalRequest, data)
        check_metadata(request.metadata)
        config = request.data_source_config
        if not isinstance(config, CustomDataSourceConfig):
            raise BadRequest(NOT_EMULATED[config.type], param="data_source_config.type", code="invalid_value")
        problem = rows_module.check_schema(config.item_schema)
        if problem is not None:
            raise BadRequest(
                f"Invalid 'data_source_config.item_schema': not a valid JSON schema: {problem}",
                param="data_source_config.item_schema",
                code="invalid_value",
            )
        criteria_module.check(request.testing_criteria, self.runtime.max_source_bytes)
        named = [validation.with_names(c, self.runtime.new_name) for c in request.testing_criteria]
        created = now()
        body = {
            "object": "eval",
            "id": new_id("eval_"),
            "name": request.name or "",
            "data_source_config": {
                "type": "custom",
                "schema": custom_schema(config.item_schema, config.include_sample_schema),
            },
            "testing_criteria": [validation.to_wire(criterion) for criterion in named],
            "created_at": created,
            "metadata": request.metadata or {},
        }
        self.store.put("eval", session, body, updated_at=created)
        return body

    def get_eval(self, session: str | None, eval_id: str) -> dict[str, Any]:
        body = self.store.get("eval", session, eval_id)
        if body is None:
            raise _not_found("eval", eval_id, "eval_id")
        return body

    def update_eval(self, session: str | None, eval_id: str, data: Any) -> dict[str, Any]:
        body = self.get_eval(session, eval_id)
        request = self._parse(UpdateEvalRequest, data)
        check_metadata(request.metadata)
        if request.name is not None:
            body["name"] = request.name
        if request.metadata is not None:
            body["metadata"] = request.metadata
        self.store.replace("eval", session, body, updated_at=now())
        return body

    def list_evals(self, session: str | None, params: ListParams, order_by: str) -> dict[str, Any]:
        return self._page(
            "eval", session, params, order_by="updated_at" if order_by == "updated_at" else "seq"
        )

    def delete_eval(self, session: str | None, eval_id: str) -> dict[str, Any]:
        self.get_eval(session, eval_id)
        for run in self.store.bodies("run", session, eval_id):
            self.executor.cancel(run["id"])
        self.store.delete("eval", session, eval_id)
        return {"object": "eval.deleted", "deleted": True, "eval_id": eval_id}

    # --- runs

    def create_run(self, session: str | None, eval_id: str, data: Any, base_url: str) -> dict[str, Any]:
        evaluation = self.get_eval(session, eval_id)
        request = self._parse(CreateRunRequest, data)
        check_metadata(request.metadata)
        self._check_data_source(session, request)
        run_id = new_id("evalrun_")
        names = [criterion["name"] for criterion in evaluation["testing_criteria"]]
        source = request.data_source
        model = source.model if isinstance(source, CompletionsRunDataSource) else None
        body = {
            "object": "eval.run",
            "id": run_id,
            "eval_id": eval_id,
            "report_url": f"{base_url.rstrip('/')}/v1/evals/{eval_id}/runs/{run_id}",
            "status": "queued",
            "model": model or "",
            "name": request.name or "",
            "created_at": now(),
            **Tally(names).wire(),
            "error": no_error(self.profile),
            "metadata": request.metadata or {},
        }
        self.store.put("run", session, body, parent=eval_id, status="queued")
        echoed = declared(source)
        self.store.put("source", session, {"id": run_id, "data_source": echoed}, parent=run_id)
        self.executor.start(session, run_id)
        return {**body, "data_source": echoed}

    def _check_data_source(self, session: str | None, request: CreateRunRequest) -> None:
        source = request.data_source
        if isinstance(source, ResponsesRunDataSource):
            raise BadRequest(NOT_EMULATED["responses"], param="data_source.type", code="invalid_value")
        if isinstance(source.source, StoredCompletionsSource):
            raise BadRequest(
                "Run data source " + NOT_EMULATED["stored_completions"],
                param="data_source.source.type",
                code="invalid_value",
            )
        if (
            isinstance(source.source, FileIdSource)
            and self.store.get("file", session, source.source.id) is None
        ):
            raise BadRequest(
                f"No such File object: {source.source.id}",
                param="data_source.source.id",
                code="invalid_value",
            )
        if isinstance(source, CompletionsRunDataSource) and isinstance(
            source.input_messages, TemplateInputMessages
        ):
            for index, message in enumerate(source.input_messages.template):
                for text in _message_texts(message.content):
                    try:
                        templating.check(text)
                    except templating.TemplateSyntaxError as exc:
                        raise BadRequest(
                            str(exc),
                            param=f"data_source.input_messages.template.{index}.content",
                            code="invalid_value",
                        ) from None

    def _run_wire(self, session: str | None, body: dict[str, Any]) -> dict[str, Any]:
        source = self.store.get("source", session, body["id"])
        return {**body, "data_source": source["data_source"] if source else {}}

    def _run(self, session: str | None, eval_id: str, run_id: str) -> dict[str, Any]:
        self.get_eval(session, eval_id)
        body = self.store.get("run", session, run_id, parent=eval_id)
        if body is None:
            raise _not_found("run", run_id, "run_id")
        return body

    def get_run(self, session: str | None, eval_id: str, run_id: str) -> dict[str, Any]:
        return self._run_wire(session, self._run(session, eval_id, run_id))

    def list_runs(
        self, session: str | None, eval_id: str, params: ListParams, status: str | None
    ) -> dict[str, Any]:
        self.get_eval(session, eval_id)
        page = self._page("run", session, params, parent=eval_id, status=status)
        page["data"] = [self._run_wire(session, run) for run in page["data"]]
        return page

    def cancel_run(self, session: str | None, eval_id: str, run_id: str) -> dict[str, Any]:
        body = self._run(session, eval_id, run_id)
        if body["status"] not in TERMINAL:
            self.executor.cancel(run_id)
            body["status"] = "canceled"
            self.store.replace("run", session, body, status="canceled")
        return self._run_wire(session, body)

    def delete_run(self, session: str | None, eval_id: str, run_id: str) -> dict[str, Any]:
        self._run(session, eval_id, run_id)
        self.executor.cancel(run_id)
        self.store.delete("run", session, run_id)
        return {"object": "eval.run.deleted", "deleted": True, "run_id": run_id}

    # --- output items

    def list_items(
        self, session: str | None, eval_id: str, run_id: str, params: ListParams, status: str | None
    ) -> dict[str, Any]:
        self._run(session, eval_id, run_id)
        return self._page("item", session, params, parent=run_id, status=status)

    def get_item(self, session: str | None, eval_id: str, run_id: str, item_id: str) -> dict[str, Any]:
        self._run(session, eval_id, run_id)
        body = self.store.get("item", session, item_id, parent=run_id)
        if body is None:
            raise _not_found("output item", item_id, "output_item_id")
        return body

    # --- sessions

    def forget(self, session: str | None) -> None:
        """The control plane's reset: a session's evals, runs and files (None: everything)."""
        self.executor.forget(session)
        self.store.clear(None if session is None else [session])


def declared(value: Any) -> Any:
    """A parsed request part as echoed: declared fields that were set, by wire name, nulls dropped.

    Unknown keys (kept aside by WireModel) are not echoed: the spec's answer types have no room for them.
    """
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return {
            fields[name].alias or name: declared(getattr(value, name))
            for name in fields
            if name in value.model_fields_set and getattr(value, name) is not None
        }
    if isinstance(value, list):
        return [declared(v) for v in value]
    if isinstance(value, dict):
        return {k: declared(v) for k, v in value.items()}
    return value


def _message_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    parts = content if isinstance(content, list) else [content]
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        else:
            texts.extend(
                value for key in ("text", "image_url") if isinstance(value := getattr(part, key, None), str)
            )
    return texts
