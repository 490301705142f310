"""Slack's Web API, the calls the bot makes (``chat.*``, ``reactions.add``, ``files.info``) and file downloads
with the bot token, which is only ever sent to Slack's hosts (or the configured API host)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.config import Settings
from handlers.platforms import http_client as http
from handlers.platforms.outbound import DONE, Attempt, RetryPolicy, SendFailed, fail, retry, sent

_RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackApi:
    def __init__(self, settings: Settings, policy: RetryPolicy | None = None) -> None:
        self.base = settings.slack_api_base.rstrip("/")
        self._auth = {"Authorization": f"Bearer {settings.slack_bot_token}"}
        self.policy = policy or RetryPolicy()
        self._api_host = urlsplit(self.base).hostname or ""

    def post_message(
        self, channel: str, text: str, thread_ts: str = "", blocks: list[dict[str, Any]] | None = None
    ) -> Attempt:
        body: dict[str, Any] = {"channel": channel, "text": text}
        if thread_ts:
            body["thread_ts"] = thread_ts
        if blocks:
            body["blocks"] = blocks
        return self.call("chat.postMessage", body)

    def call(self, method: str, body: dict[str, Any]) -> Attempt:
        return self.call_for(method, body)[0]

    def call_for(self, method: str, body: dict[str, Any]) -> tuple[Attempt, dict[str, Any]]:
        """The call's outcome and Slack's answer (``{}`` when none came)."""
        try:
            resp = http.request("POST", f"{self.base}/{method}", json_body=body, secret_headers=self._auth)
        except http.HttpError as exc:
            return retry(str(exc)), {}
        return _classify(resp), resp.json()

    def call_form(self, method: str, fields: dict[str, str]) -> tuple[Attempt, dict[str, Any]]:
        """A method that takes form fields, not JSON (``files.getUploadURLExternal``); outcome and answer."""
        body = urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            resp = http.request("POST", f"{self.base}/{method}", data=body, headers=headers, secret_headers=self._auth)
        except http.HttpError as exc:
            return retry(str(exc)), {}
        return _classify(resp), resp.json()

    def upload_file(self, filename: str, data: bytes, title: str, channel: str, comment: str) -> str:
        """Slack's upload flow: ``files.getUploadURLExternal``, the bytes POSTed to the URL it names (no token: it
        holds its own grant), then ``files.completeUploadExternal`` shares the file in ``channel`` with ``comment``
        as its message. The file's id; raises SendFailed."""
        attempt, answer = self.call_form("files.getUploadURLExternal", {"filename": filename, "length": str(len(data))})
        sent(attempt)
        url, file_id = str(answer.get("upload_url") or ""), str(answer.get("file_id") or "")
        if not url or not file_id or not self.trusted(url):
            raise SendFailed(fail("files.getUploadURLExternal named no Slack upload URL"))
        try:
            resp = http.request("POST", url, data=data, headers={"Content-Type": "application/octet-stream"})
        except http.HttpError as exc:  # its text names the URL, whose path is the upload's grant: not logged
            raise SendFailed(retry(f"upload: {_kind(exc)}")) from exc
        if resp.status != 200:
            raise SendFailed(
                retry(f"upload: HTTP {resp.status}") if resp.status >= 500 else fail(f"upload: HTTP {resp.status}")
            )
        files = json.dumps([{"id": file_id, "title": title}], ensure_ascii=False)
        fields = {"files": files, "channel_id": channel, "initial_comment": comment}
        sent(self.call_form("files.completeUploadExternal", fields)[0])
        return file_id

    def file_url(self, file_id: str) -> str:
        """``files.info`` for a file shared without URLs (Slack Connect ``check_file_info``)."""
        try:
            resp = http.request("GET", f"{self.base}/files.info", params={"file": file_id}, secret_headers=self._auth)
        except http.HttpError as exc:
            raise http.DownloadError("download_failed", f"files.info: {exc}") from exc
        info = resp.json().get("file") or {}
        url = info.get("url_private_download") or info.get("url_private")
        if not resp.json().get("ok") or not url:
            raise http.DownloadError("download_failed", f"files.info: {resp.json().get('error')}")
        return str(url)

    def trusted(self, url: str) -> bool:
        """The bot token goes to Slack's hosts (or the configured API host, for tests and proxies) only."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host == self._api_host and parts.scheme in ("http", "https"):
            return True
        return parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))

    def download(self, ref: dict[str, Any], max_bytes: int) -> bytes:
        size = ref.get("size")
        if isinstance(size, int) and size > max_bytes:
            raise http.DownloadError("too_large", f"file size {size} > {max_bytes}")
        url = ref.get("url") or (self.file_url(ref["file_id"]) if ref.get("file_id") else "")
        if not url or not self.trusted(url):
            raise http.DownloadError("download_failed", "no Slack file URL to fetch")
        return http.download_image(url, max_bytes=max_bytes, secret_headers=self._auth)


def _kind(exc: BaseException) -> str:
    """An error by its type and its cause's (``HttpError (TimeoutError)``), never its text."""
    cause = exc.__cause__
    return f"{type(exc).__name__} ({type(cause).__name__})" if cause is not None else type(exc).__name__


def _classify(resp: http.Response) -> Attempt:
    if resp.status == 429:
        return retry("HTTP 429", resp.retry_after())
    if resp.status >= 500:
        return retry(f"HTTP {resp.status}")
    data = resp.json()
    if data.get("ok") is True:
        return DONE
    error = str(data.get("error") or f"HTTP {resp.status}")
    if error in _RETRYABLE_ERRORS:
        return retry(error, resp.retry_after())
    return fail(error)
