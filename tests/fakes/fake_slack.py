"""A local server that speaks the Slack Web API calls the bot makes: posts, updates, files."""

from __future__ import annotations

from tests.fakes.api_server import Answer, FakeServer, Recorded, bearer, html_login_page, json_answer


class FakeSlack(FakeServer):
    """``/api/chat.postMessage``, ``chat.update``, ``reactions.add``, ``/api/files.info`` and
    ``/files-pri/...`` downloads (Bearer checked). Messages keep their ``blocks``; an update replaces them."""

    name = "slack"

    def __init__(self, bot_token: str = "xoxb-test-token") -> None:  # noqa: S107
        super().__init__()
        self.bot_token = bot_token
        self.files: dict[str, tuple[bytes, str]] = {}
        self.posted: list[dict] = []
        self.reactions: list[dict] = []
        self.ephemeral: list[dict] = []  # chat.postEphemeral: seen by one user only

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api"

    def add_file(self, file_id: str, data: bytes, mimetype: str = "image/jpeg", name: str = "photo.jpg") -> dict:
        """Host a file and return its ``files[]`` entry as it appears in a message event."""
        with self._lock:
            self.files[file_id] = (data, mimetype)
        url = f"{self.root_url}/files-pri/T111-{file_id}/download/{name}"
        return {
            "id": file_id,
            "name": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data),
            "url_private": url,
            "url_private_download": url,
        }

    def texts(self, channel: str | None = None) -> list[str]:
        with self._lock:
            items = list(self.posted)
        return [p["text"] for p in items if channel is None or p.get("channel") == channel]

    def route(self, method: str, path: str) -> str:
        if method == "POST" and path == "/api/chat.postMessage":
            return "post"
        if method == "POST" and path == "/api/chat.update":
            return "update"
        if method == "POST" and path == "/api/reactions.add":
            return "reaction"
        if method == "POST" and path == "/api/chat.postEphemeral":
            return "ephemeral"
        if method == "GET" and path == "/api/files.info":
            return "files_info"
        if method == "GET" and path.startswith("/files-pri/"):
            return "download"
        return ""

    def on_post(self, rec: Recorded) -> Answer:
        if bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        body = rec.json or {}
        if not body.get("channel"):
            return json_answer({"ok": False, "error": "channel_not_found"})
        ts = f"1700000000.{self.next_id():06d}"
        self.posted.append(
            {
                "channel": body["channel"],
                "text": body.get("text", ""),
                "thread_ts": body.get("thread_ts"),
                "ts": ts,
                "blocks": body.get("blocks"),
            }
        )
        return json_answer({"ok": True, "channel": body["channel"], "ts": ts, "message": {"text": body.get("text")}})

    def on_update(self, rec: Recorded) -> Answer:
        if bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        body = rec.json or {}
        sent = next((p for p in self.posted if p["ts"] == body.get("ts") and p["channel"] == body.get("channel")), None)
        if sent is None:
            return json_answer({"ok": False, "error": "message_not_found"})
        sent.update(text=body.get("text", sent["text"]), blocks=body.get("blocks"))
        return json_answer({"ok": True, "channel": sent["channel"], "ts": sent["ts"]})

    def on_reaction(self, rec: Recorded) -> Answer:
        if bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        body = rec.json or {}
        if not body.get("name") or not body.get("timestamp") or not body.get("channel"):
            return json_answer({"ok": False, "error": "invalid_arguments"})
        self.reactions.append(body)
        return json_answer({"ok": True})

    def on_ephemeral(self, rec: Recorded) -> Answer:
        if bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        body = rec.json or {}
        if not body.get("channel") or not body.get("user") or not body.get("text"):
            return json_answer({"ok": False, "error": "invalid_arguments"})
        self.ephemeral.append(body)
        return json_answer({"ok": True, "message_ts": f"1700000001.{self.next_id():06d}"})

    def message(self, ts: str) -> dict:
        with self._lock:
            return next(p for p in self.posted if p["ts"] == ts)

    def on_files_info(self, rec: Recorded) -> Answer:
        if bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        file_id = rec.query.get("file", "")
        if file_id not in self.files:
            return json_answer({"ok": False, "error": "file_not_found"})
        url = f"{self.root_url}/files-pri/T111-{file_id}/download/photo"
        return json_answer({"ok": True, "file": {"id": file_id, "url_private_download": url}})

    def on_download(self, rec: Recorded) -> Answer:
        if bearer(rec) != self.bot_token:
            return html_login_page()
        file_id = rec.path.split("/")[2].split("-", 1)[-1]
        found = self.files.get(file_id)
        if found is None:
            return Answer(404, b"not found", (("Content-Type", "text/plain"),))
        data, mimetype = found
        return Answer(200, data, (("Content-Type", mimetype),))
