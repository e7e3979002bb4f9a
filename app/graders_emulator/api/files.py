"""The Files API subset that evals use: upload (multipart), retrieve, list, content, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from graders_emulator.api.evals import (
    ERRORS,
    FILES_PAGE_MAX,
    Ops,
    Session,
    choice,
    json_response,
    limit_query,
    page,
)
from graders_emulator.errors import BadRequest
from graders_emulator.evals.operations import UPLOAD_PURPOSES
from graders_emulator.evals.store import Order
from graders_emulator.schemas import files as wire

router = APIRouter(prefix="/v1", tags=["files"])

_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": list(UPLOAD_PURPOSES)},
                    },
                    "required": ["file", "purpose"],
                }
            }
        },
    }
}


async def _upload(request: Request) -> tuple[str, str, bytes]:
    """(filename, purpose, content) of a multipart upload, with OpenAI's 400s for what is missing."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise BadRequest(
            "Invalid Content-Type header: the upload must be sent as multipart/form-data.",
            code="invalid_value",
        )
    try:
        form = await request.form()
    except Exception:  # python-multipart raises several types for a malformed body
        raise BadRequest("The multipart body could not be parsed.", code="invalid_value") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise BadRequest(
            "Missing required parameter: 'file'.", param="file", code="missing_required_parameter"
        )
    purpose = form.get("purpose")
    if not isinstance(purpose, str):
        raise BadRequest(
            "Missing required parameter: 'purpose'.", param="purpose", code="missing_required_parameter"
        )
    choice(purpose, "purpose", UPLOAD_PURPOSES, None)
    return upload.filename or "upload", purpose, await upload.read()


@router.post(
    "/files",
    operation_id="createFile",
    summary="Upload a file (purpose `evals` for eval rows: one {item, sample} object per line).",
    response_model=wire.FileObject,
    responses=ERRORS,
    openapi_extra=_UPLOAD_DOC,
)
async def create_file(request: Request, ops: Ops, session: Session) -> Response:
    filename, purpose, content = await _upload(request)
    return json_response(ops.create_file(session, filename, purpose, content))


@router.get(
    "/files", operation_id="listFiles", summary="List files.", response_model=wire.FileList, responses=ERRORS
)
async def list_files(
    *,
    ops: Ops,
    session: Session,
    purpose: Annotated[str | None, Query()] = None,
    after: Annotated[str | None, Query()] = None,
    limit: Annotated[int, limit_query(FILES_PAGE_MAX, 10_000)] = 10_000,
    order: Annotated[Order, Query(description="By creation time; default desc.")] = "desc",
) -> Response:
    return json_response(ops.list_files(session, page(after, limit, order, FILES_PAGE_MAX), purpose))


@router.get(
    "/files/{file_id}",
    operation_id="retrieveFile",
    summary="Get a file.",
    response_model=wire.FileObject,
    responses=ERRORS,
)
async def retrieve_file(file_id: str, ops: Ops, session: Session) -> Response:
    return json_response(ops.get_file(session, file_id))


@router.get(
    "/files/{file_id}/content",
    operation_id="downloadFile",
    summary="A file's bytes.",
    responses={
        **ERRORS,
        200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    },
)
async def download_file(file_id: str, ops: Ops, session: Session) -> Response:
    return Response(ops.file_content(session, file_id), media_type="application/octet-stream")


@router.delete(
    "/files/{file_id}",
    operation_id="deleteFile",
    summary="Delete a file.",
    response_model=wire.FileDeleted,
    responses=ERRORS,
)
async def delete_file(file_id: str, ops: Ops, session: Session) -> Response:
    return json_response(ops.delete_file(session, file_id))
