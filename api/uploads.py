"""Streamed multipart uploads: the body is parsed as it arrives (python-multipart's push parser) and each file
part goes straight into an `UploadWriter` (hash, size limit, temp file in the data dir); nothing is spooled in
memory or /tmp, and a part over the limit stops the request at that point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from cases.errors import MalformedUpload, UnsupportedUpload, UploadRejected, UploadTooLarge
from cases.uploads import StoredFile, UploadWriter

MAX_PARTS = 1000


async def receive_files(request: Request, writer_for: Callable[[str], UploadWriter]) -> list[StoredFile]:
    """Every file part of a `multipart/form-data` body, stored; fields without a filename are ignored."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UnsupportedUpload("send the files as multipart/form-data (field name 'files', one part per file)")
    stored: list[StoredFile] = []
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "writer": None, "parts": 0}
    errors: list[BaseException] = []

    def on_part_begin() -> None:
        state["headers"] = {}
        state["writer"] = None
        state["parts"] += 1
        if state["parts"] > MAX_PARTS:
            raise UploadTooLarge(f"more than {MAX_PARTS} parts in one upload")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(state["headers"].get("content-disposition", b""))
        filename = disp.get(b"filename")
        if filename is not None:
            state["writer"] = writer_for(filename.decode("utf-8", "replace") or "upload")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["writer"] is not None:
            state["writer"].write(data[start:end])

    def on_part_end() -> None:
        w = state["writer"]
        if w is not None:
            state["writer"] = None
            stored.extend(w.finish())

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():  # disk writes and hashing off the event loop
            await run_in_threadpool(parser.write, chunk)
        await run_in_threadpool(parser.finalize)
    except UploadRejected:
        raise
    except Exception as exc:  # the parser's own errors: a malformed body
        errors.append(exc)
    finally:
        if state["writer"] is not None:
            state["writer"].abort()
    if errors:
        raise MalformedUpload(f"malformed multipart body ({errors[0]})")
    if not stored:
        raise UploadRejected("no file parts in the upload (send them as multipart/form-data with a filename)")
    return stored
