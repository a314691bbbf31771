"""GET /health: the one route without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Response

router = APIRouter()


@router.get("/health", status_code=204, response_class=Response)
def health() -> Response:
    return Response(status_code=204)
