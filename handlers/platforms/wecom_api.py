"""WeCom's API, the calls the bot makes: ``message/send`` (and ``appchat/send``), template card updates,
``media/upload`` and ``media/get``, with the access token cached in Redis and one refresh on "token expired"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bot.config import Settings
from handlers.platforms import http_client as http
from handlers.platforms.outbound import DONE, Attempt, RetryPolicy, SendFailed, fail, retry, sent
from handlers.platforms.tokens import TokenError, TokenSource

if TYPE_CHECKING:
    from handlers.platforms.base import PlatformContext

PLATFORM = "wecom"
TOKEN_EXPIRED = frozenset({40001, 40014, 42001})
RETRYABLE = frozenset({-1, 45009, 45033})  # system busy, API frequency limits


class WeComApi:
    """The three calls we need, with the shared token and one refresh on "token expired"."""

    def __init__(self, settings: Settings, runtime: PlatformContext, policy: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.base = settings.wecom_api_base.rstrip("/") + "/cgi-bin"
        self.agent_id = int(settings.wecom_agent_id)
        self.policy = policy or RetryPolicy()
        self.tokens = TokenSource(
            runtime.store, PLATFORM, f"{settings.wecom_corp_id}-{settings.wecom_agent_id}", self._fetch_token
        )

    def _fetch_token(self) -> tuple[str, int]:
        params = {"corpid": self.settings.wecom_corp_id, "corpsecret": self.settings.wecom_secret}
        try:
            resp = http.request("GET", f"{self.base}/gettoken", params=params)
        except http.HttpError as exc:
            raise TokenError(f"wecom gettoken unreachable: {exc}") from exc
        data = resp.json()
        if resp.status != 200 or data.get("errcode", 0) != 0 or not data.get("access_token"):
            raise TokenError(f"wecom gettoken: HTTP {resp.status} errcode {data.get('errcode')} {data.get('errmsg')}")
        return str(data["access_token"]), int(data.get("expires_in") or 7200)

    def send_text(self, user: str, text: str) -> Attempt:
        return self.send(user, "text", {"content": text})

    def send(self, user: str, msgtype: str, payload: dict[str, Any]) -> Attempt:
        body = {"touser": user, "msgtype": msgtype, "agentid": self.agent_id, msgtype: payload, "safe": 0}
        return self._call("/message/send", body)

    def send_to(self, address: str, msgtype: str, payload: dict[str, Any]) -> Attempt:
        """To a duty address: ``chat:<id>`` (``appchat/send``, a group the app made) or ``users:<id>|<id>``."""
        kind, _, ids = address.partition(":")
        if kind == "chat":
            return self._call("/appchat/send", {"chatid": ids, "msgtype": msgtype, msgtype: payload, "safe": 0})
        return self.send(ids, msgtype, payload)

    def upload_image(self, data: bytes) -> str:
        """``media/upload?type=image``: a media_id (valid 3 days) to send the photo by. Raises SendFailed."""
        body, content_type = http.multipart({}, "media", "photo.jpg", data, "application/octet-stream")

        def send(token: str) -> http.Response:
            params = {"access_token": token, "type": "image"}
            headers = {"Content-Type": content_type}
            return http.request("POST", f"{self.base}/media/upload", data=body, params=params, headers=headers)

        try:
            resp = self.tokens.call(send, lambda answer: answer.json().get("errcode") in TOKEN_EXPIRED)
        except (TokenError, http.HttpError) as exc:
            raise SendFailed(retry(str(exc))) from exc
        sent(_classify(resp))
        media_id = resp.json().get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise SendFailed(fail("media/upload answered without a media_id"))
        return media_id

    def update_card(self, user: str, response_code: str, replace_name: str) -> Attempt:
        """Grey out the buttons of a tapped card (``response_code`` is valid 72 h, once)."""
        body = {
            "userids": [user],
            "agentid": self.agent_id,
            "response_code": response_code,
            "button": {"replace_name": replace_name},
        }
        return self._call("/message/update_template_card", body)

    def _call(self, path: str, body: dict[str, Any]) -> Attempt:
        def send(token: str) -> http.Response:
            return http.request("POST", f"{self.base}{path}", params={"access_token": token}, json_body=body)

        try:
            resp = self.tokens.call(send, lambda answer: answer.json().get("errcode") in TOKEN_EXPIRED)
        except (TokenError, http.HttpError) as exc:
            return retry(str(exc))
        return _classify(resp)

    def download(self, media_id: str, max_bytes: int) -> bytes:
        """The photo or voice note behind a MediaId (valid 3 days); raises DownloadError, TokenError."""

        def fetch(token: str) -> bytes:
            url = f"{self.base}/media/get?{urlencode({'access_token': token, 'media_id': media_id})}"
            return http.download_image(url, max_bytes=max_bytes)

        return self.tokens.download(fetch, "errcode", TOKEN_EXPIRED, "media/get")


def _classify(resp: http.Response) -> Attempt:
    data = resp.json()
    code = data.get("errcode")
    if resp.status == 429 or resp.status >= 500:
        return retry(f"HTTP {resp.status}", resp.retry_after())
    if code == 0:
        if data.get("invaliduser"):
            return fail(f"user outside the app's visible range: {data.get('invaliduser')}")
        return DONE
    if code in RETRYABLE:
        return retry(f"errcode {code}")
    return fail(f"HTTP {resp.status} errcode {code} {str(data.get('errmsg', ''))[:200]}")
