"""Errors as the CLI expects them: `{"error": "<message>"}` with the spec's status codes.

Routes and the engine below them raise domain errors (an invalid description, an unsafe object
name, a group area the caller is not in, object storage failing); the handlers here turn each
into its response once, for every route. `ApiError` is for the refusals only the REST layer
knows (not found, not yours, disabled).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from prominence.contract.keys import InvalidName, NotAuthorized
from prominence.model.errors import SpecError
from prominence.storage.s3 import StorageError

log = logging.getLogger(__name__)
# Spec §10 names what a data request was refused by the kind of request.
NOT_AUTHORIZED = {
    "GET": "Not authorized to access this path",
    "POST": "Not authorized to access upload with this path",
    "DELETE": "Not authorized to access this object",
}
STORAGE_FAILED = {"GET": "Unable to list objects due to storage system problems"}
STORAGE_UNAVAILABLE = "Unable to access object storage"


class ApiError(Exception):
    """Raised anywhere below a route; mapped to a JSON response in one place."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ErrorBody(BaseModel):
    """The body of every error the API answers."""

    error: str


ERROR_DESCRIPTIONS = {
    400: "Invalid request, or an id that names nothing",
    401: "No valid bearer token, or the feature is disabled",
    403: "The resource belongs to someone else",
    404: "No such key",
    413: "Request body larger than PROMINENCE_MAX_BODY_BYTES (1 MiB)",
    416: "The Range starts past the end of the log",
}


# A `{name:path}` parameter matches no line break: such a path reaches no route at all.
UNROUTABLE = {404: {"model": ErrorBody, "description": "No route: the path holds a line break"}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route answering these error statuses with an ErrorBody."""
    return {status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _storage_failed(request: Request, exc: Exception) -> JSONResponse:
    log.warning("Object storage failed on %s %s: %s", request.method, request.url.path, exc)
    return error_response(400, STORAGE_FAILED.get(request.method, STORAGE_UNAVAILABLE))


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body"))
    return error_response(400, f"invalid {where}: {first.get('msg', 'bad request')}".strip())


HANDLERS: dict[type[Exception], Any] = {
    ApiError: lambda request, exc: error_response(exc.status, exc.message),
    SpecError: lambda request, exc: error_response(400, exc.message),
    InvalidName: lambda request, exc: error_response(400, str(exc)),
    NotAuthorized: lambda request, exc: error_response(403, NOT_AUTHORIZED.get(request.method, "Not authorized")),
    StorageError: _storage_failed,
    RequestValidationError: _validation,
    StarletteHTTPException: lambda request, exc: error_response(exc.status_code, str(exc.detail)),
}


def install(app: FastAPI) -> None:
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)
