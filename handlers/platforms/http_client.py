"""One small outbound HTTP helper for the platform adapters (stdlib only).

Why not ``requests``: it is not a runtime dependency of ours, and what the
platforms need is small: JSON calls that never raise on an HTTP status, and a
streaming image download capped at ``max_bytes``. Credentials are attached as
*unredirected* headers, so urllib never forwards a bearer token to wherever a
redirect points (Slack answers bad file auth with a redirect to its sign-in page).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from bot.images import sniff_image_type

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
_CHUNK = 64 * 1024


class HttpError(Exception):
    """The request never got an HTTP answer (connection refused, timeout, TLS, bad URL)."""


class DownloadError(Exception):
    """An image could not be fetched; ``problem`` is the Incoming.image_problem to hand the engine.

    ``response`` holds a non-image answer (status, headers, body) so the caller can read a
    platform error code from it, e.g. an expired access token worth one retry.
    """

    def __init__(self, problem: str, detail: str, response: Response | None = None) -> None:
        super().__init__(f"{problem}: {detail}")
        self.problem = problem
        self.detail = detail
        self.response = response

    def error_code(self, field: str) -> Any:
        """The platform's error code in a JSON answer (``errcode``, ``code``), or None."""
        return self.response.json().get(field) if self.response is not None else None


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes = field(repr=False)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or {} when it is not one (an HTML error page, an empty 502)."""
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def retry_after(self) -> float | None:
        raw = self.headers.get("Retry-After")
        try:
            return max(0.0, float(raw)) if raw is not None else None
        except ValueError:
            return None


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise HttpError(f"refusing a {scheme or 'schemeless'} URL")


def _open(
    method: str, url: str, body: bytes | None, headers: dict[str, str], secret_headers: dict[str, str], timeout: float
) -> Any:
    _check_url(url)
    req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - scheme checked
    for name, value in secret_headers.items():
        req.add_unredirected_header(name, value)
    try:
        return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - scheme checked
    except urllib.error.HTTPError as exc:
        return exc  # an HTTP answer, just not 2xx: the caller decides
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise HttpError(f"{method} {_safe(url)}: {type(exc).__name__}: {getattr(exc, 'reason', exc)}") from exc


def request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    data: bytes | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    secret_headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = 4 * 1024 * 1024,
) -> Response:
    """One call; returns whatever status came back. Raises HttpError only when no answer arrived."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"
    body = data
    all_headers = {"Accept": "application/json", **(headers or {})}
    if json_body is not None:
        body = json.dumps(json_body, ensure_ascii=False).encode()
        all_headers["Content-Type"] = "application/json; charset=utf-8"
    resp = _open(method, url, body, all_headers, secret_headers or {}, timeout)
    with resp:
        try:
            data = resp.read(max_bytes + 1)
        except OSError as exc:
            raise HttpError(f"{method} {_safe(url)}: reading the answer: {type(exc).__name__}") from exc
        return Response(resp.status if hasattr(resp, "status") else resp.code, resp.headers, data[:max_bytes])


def multipart(
    fields: dict[str, str], file_field: str, filename: str, data: bytes, content_type: str
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with text fields and one file: (body, its Content-Type header)."""
    boundary = f"wobot{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    )
    body = b"".join(parts) + head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def download_image(
    url: str, *, max_bytes: int, secret_headers: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
) -> bytes:
    """GET an image, reading at most ``max_bytes`` + 1 bytes, and make sure the answer is not an error page.

    Raises DownloadError("too_large") past the cap (by Content-Length or by counting) and
    DownloadError("download_failed") on no answer, a non-200, or a 200 whose body is text,
    HTML or JSON (Slack's sign-in page after bad auth, WeCom/Feishu JSON errors); that body is
    on the error's ``response``. Binary bytes are returned as they are: the engine decides,
    by their magic bytes, whether they are a photo it accepts.
    """
    try:
        resp = _open("GET", url, None, {"Accept": "image/*"}, secret_headers or {}, timeout)
    except HttpError as exc:
        raise DownloadError("download_failed", str(exc)) from exc
    with resp:
        status = resp.status if hasattr(resp, "status") else resp.code
        headers = resp.headers
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        length = headers.get("Content-Length") or ""
        if status == 200 and not _is_texty(content_type) and length.isdigit() and int(length) > max_bytes:
            raise DownloadError("too_large", f"Content-Length {length} > {max_bytes}")
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    if status == 200 and not _is_texty(content_type):
                        raise DownloadError("too_large", f"more than {max_bytes} bytes")
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise DownloadError("download_failed", f"reading: {type(exc).__name__}") from exc
    data = b"".join(chunks)
    if status != 200:
        raise DownloadError("download_failed", f"HTTP {status} from {_safe(url)}", Response(status, headers, data))
    if _is_texty(content_type) or _looks_like_markup(data):
        detail = f"{content_type or 'no content type'} instead of an image from {_safe(url)}"
        raise DownloadError("download_failed", detail, Response(status, headers, data))
    return data


def _looks_like_markup(data: bytes) -> bool:
    """An HTML page or JSON error served under an image content type."""
    if sniff_image_type(data) is not None:
        return False
    head = data[:256].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<?xml", b"{", b"["))


def _is_texty(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type in ("application/json", "application/xml")


def _safe(url: str) -> str:
    """The URL without its query (which may carry an access token) for logs and errors."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
