"""What the web port answers over plain HTTP: the page's files, their security
headers, and which pages may open the WebSocket (the Origin check).

Everything the page needs ships in the package (page/): no CDN, no build
step, no internet. Inline scripts are forbidden by the Content-Security-Policy,
so even text that slipped into the page as HTML could not run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from urllib.parse import urlsplit

SOCKET_PATH = "/ws"

_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}
_PATHS = {
    "/": "index.html",
    "/app.js": "app.js",
    "/style.css": "style.css",
    "/icon.svg": "icon.svg",
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""Only the page's own files run or style it; it talks only to its own server."""

SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the page, read once at start."""

    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """The page's files by URL path, read from the package."""
    page = files("asyncchat.frontends.web") / "page"
    assets = {}
    for path, name in _PATHS.items():
        body = (page / name).read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        assets[path] = Asset(body, _TYPES[name.rsplit(".", 1)[1]], etag)
    return assets


def same_site(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """May a page from `origin` open the WebSocket of the server it reached as `host`?

    No Origin header: not a browser (a bot), which no other site can drive. A
    browser's page may if it came from this server (the origin's host and port
    are the Host it asked for, whatever the scheme: a TLS proxy in front changes
    only that), or from one of `allowed` (--web-origin).
    """
    if origin is None:
        return True
    origin = origin.strip().lower()
    if origin in (extra.rstrip("/").lower() for extra in allowed):
        return True
    if host is None or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()
