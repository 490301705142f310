"""A local server that speaks the Slack Web API calls the bot makes: posts, updates, files."""

from __future__ import annotations

import json
import urllib.parse

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
        # the upload flow: files.getUploadURLExternal names a URL, the bytes go there, files.completeUploadExternal
        # shares them (with its initial_comment as the message)
        self.pending_uploads: dict[str, dict] = {}  # file_id → {filename, length, data}
        self.shared_files: list[dict] = []  # {file_id, title, channel_id, initial_comment, data}

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
        if method == "POST" and path == "/api/files.getUploadURLExternal":
            return "upload_url"
        if method == "POST" and path.startswith("/upload/"):
            return "upload"
        if method == "POST" and path == "/api/files.completeUploadExternal":
            return "complete_upload"
        return ""

    # The upload flow as docs.slack.dev describes files.getUploadURLExternal (form fields filename, length) and
    # files.completeUploadExternal (form field files: a JSON list of {id, title}; channel_id; initial_comment), the
    # two sent form-encoded as slack_sdk's files_upload_v2 sends them; the bytes POSTed raw, without a token.
    # (``on_*`` run under the server's lock.)
    def on_upload_url(self, rec: Recorded) -> Answer:
        if bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        form = dict(urllib.parse.parse_qsl(rec.body.decode()))
        if not form.get("filename") or not form.get("length", "").isdigit():
            return json_answer({"ok": False, "error": "invalid_arguments"})
        file_id = f"F{self.next_id():08d}"
        self.pending_uploads[file_id] = {"filename": form["filename"], "length": int(form["length"]), "data": None}
        return json_answer({"ok": True, "upload_url": f"{self.root_url}/upload/{file_id}", "file_id": file_id})

    def on_upload(self, rec: Recorded) -> Answer:
        file_id = rec.path.split("/")[2]
        pending = self.pending_uploads.get(file_id)
        if pending is None or len(rec.body) != pending["length"]:
            return Answer(400, b"bad upload", (("Content-Type", "text/plain"),))
        pending["data"] = rec.body
        return Answer(200, f"OK - {len(rec.body)}".encode(), (("Content-Type", "text/plain"),))

    def on_complete_upload(self, rec: Recorded) -> Answer:
        if bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        form = dict(urllib.parse.parse_qsl(rec.body.decode()))
        try:
            files = json.loads(form.get("files", ""))
        except ValueError:
            return json_answer({"ok": False, "error": "invalid_arguments"})
        done = []
        for entry in files:
            pending = self.pending_uploads.get(entry.get("id", ""))
            if pending is None or pending["data"] is None:
                return json_answer({"ok": False, "error": "file_not_found"})
            shared = {
                "file_id": entry["id"],
                "title": entry.get("title"),
                "channel_id": form.get("channel_id"),
                "initial_comment": form.get("initial_comment"),
                "data": pending["data"],
            }
            self.shared_files.append(shared)
            done.append({"id": entry["id"], "title": entry.get("title")})
        return json_answer({"ok": True, "files": done})

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
