"""The chat page (`/`) and the operator page (`/admin`): static files inside the package, no
CDN and no build step. The pages call the public API from the browser (with the key the user
types, kept in the tab's session storage), so auth applies to what they read, not to the HTML."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# The pages run only their own scripts and styles and talk only to this gateway: model output
# and retrieved text are put into the DOM as text, and this policy stops any injected script.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _page(path: str, file: str) -> Route:
    async def serve(request: Request) -> FileResponse:
        return FileResponse(STATIC / file, media_type="text/html; charset=utf-8", headers=_HEADERS)

    return Route(path, serve, methods=["GET"])


def page_routes() -> list[BaseRoute]:
    return [
        _page("/", "chat.html"),
        _page("/admin", "admin.html"),
        Mount("/ui", StaticFiles(directory=STATIC), name="ui"),
    ]
