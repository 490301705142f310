"""Every setting, read once from the environment, typed, with defaults.

``Settings.from_env()`` is the only place that reads ``os.environ`` for the app;
it fails at start-up naming the variable that is malformed. Tests build
``Settings(...)`` directly.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.orders.business_time import BusinessHours, check_time_settings, parse_sla_hours
from bot.orders.duty_routes import DutyRoutes, parse_duty_routes
from bot.setting_lists import parse_admin_tokens, parse_sentinels

DEFAULT_ALARM_TYPES = {
    "zh": ("火情/烟雾", "漏水", "电气故障", "非法入侵", "设备故障", "通道堵塞", "其他"),
    "en": ("fire/smoke", "water leak", "electrical", "intrusion", "equipment failure", "blocked exit", "other"),
}


CATCH_ALL_TYPES = ("other", "其他")  # what an alarm type list must end in; unknown VLM answers become it


def catch_all_type(types: tuple[str, ...]) -> str:
    """The type a list's unknown answers become: its catch-all, else its last."""
    return next((t for t in types if t in CATCH_ALL_TYPES), types[-1])


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it."""


_SECRET_MIN_LENGTH = 4  # shorter configured values are not masked in logs (they would mask ordinary words)


@dataclass(frozen=True)
class Settings:
    # conversation
    language: str = "zh"
    alarm_types: tuple[str, ...] = ()  # empty: the language's default list
    timezone: str = "Asia/Shanghai"  # IANA name: the times users read (the database keeps UTC)
    session_ttl_seconds: int = 600
    history_max_turns: int = 10
    # persistence
    redis_url: str = ""  # empty (and no Sentinel): in-process store (one process only)
    redis_cluster: bool = False  # REDIS_URL is a seed node of a Redis Cluster
    redis_sentinels: str = ""  # host:port,host:port — find the master through Sentinel (follows a failover)
    redis_sentinel_master: str = ""  # the name the sentinels monitor
    redis_prefix: str = "wobot"
    lock_timeout_seconds: float = 30.0
    dedupe_ttl_seconds: int = 86400
    database_url: str = "sqlite:///data/orders.db"
    # VLM
    vlm_base_url: str = ""  # empty: no analysis, the user picks the type
    vlm_api_key: str = field(default="", repr=False)
    vlm_model: str = "gpt-4o-mini"
    vlm_timeout_seconds: float = 30.0
    vlm_image_mode: str = "base64"  # or "url" (presigned storage URL)
    vlm_image_max_side: int = 1536  # pixels, the long side of the copy the VLM is sent; 0: the photo as stored
    vlm_image_quality: int = 85  # JPEG quality of that copy
    # the language model for free text the keyword rules cannot place (``nlu_endpoint`` resolves the defaults)
    nlu_base_url: str = ""  # empty: the VLM's endpoint and key, when one is set; "off": none
    nlu_api_key: str = field(default="", repr=False)
    nlu_model: str = ""  # empty: the VLM's model
    nlu_timeout_seconds: float = 5.0
    # speech to text (voice notes)
    stt_base_url: str = ""  # empty: no transcription, a voice note is answered with a request to type
    stt_api_key: str = field(default="", repr=False)
    stt_model: str = "whisper-1"
    stt_timeout_seconds: float = 30.0
    max_voice_seconds: float = 120.0  # longer notes are refused before any transcription
    # A voice note's own download cap, apart from photos': a 2-minute note is well under 1 MB in every format
    # the platforms send, and the converted WAV (32 kB/s) must stay under the 25 MiB the API takes.
    max_voice_bytes: int = 10 * 1024 * 1024
    # object storage
    s3_bucket: str = ""  # empty: local folder
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_prefix: str = "wobot/"
    storage_dir: str = "data/images"
    max_image_bytes: int = 10 * 1024 * 1024
    photo_burst_seconds: float = 8.0  # photos sent this close together make one report
    max_photos_per_report: int = 4
    max_body_bytes: int = 16 * 1024 * 1024
    # the order's life: duty chats, claims, escalation, duplicates, events for other systems
    duty_routes: str = ""  # empty: no duty messages (see bot.orders.duty_routes)
    claim_sla_minutes: float = 30.0  # unclaimed this long: posted again as overdue (high severity: half)
    max_escalations: int = 3
    resolve_sla_hours: str = "high:4,medium:24,low:72"  # claimed → resolved, business hours, paused on hold
    business_hours: str = ""  # empty: every hour counts
    holidays: str = ""  # a country code of the holidays library (CN): its holidays count nothing
    escalation_routes: str = ""  # supervisor chats, DUTY_ROUTES syntax; empty: the duty chat
    # the digest of figures posted to chats (bot.reports.digest): where, when (local time), how often
    digest_routes: str = ""  # DUTY_ROUTES syntax; empty: no digest
    digest_at: str = "08:30"
    digest_every: str = "day"  # or week (posted on Mondays)
    duplicate_radius_meters: float = 50.0
    site_snap_meters: float = 80.0  # a shared location this close to registry sites offers them (bot.sites)
    close_policy: str = "assignee"  # or "anyone": who may finish (resolve) a claimed order (bot.orders.life)
    auto_confirm_hours: float = 72.0  # a resolved order the reporter does not answer is closed after this long
    order_webhook_url: str = ""
    order_webhook_secret: str = field(default="", repr=False)
    order_webhook_retry_base_seconds: float = 5.0
    # edge
    generic_webhook_token: str = field(default="", repr=False)
    worker_mode: str = "thread"  # or "worker": web processes only ack, ``flask --app wsgi turns work`` runs turns
    worker_threads: int = 8
    turn_queue_max: int = 10_000  # unfinished turns the hand-off holds before webhooks answer 503
    turn_visibility_seconds: float = 60.0  # a dead process's turn is taken over after this long
    admin_token: str = field(default="", repr=False)
    # prometheus_client's own variable, mirrored here: set (gunicorn.conf.py does), /metrics sums every worker
    prometheus_multiproc_dir: str = ""
    log_format: str = "text"  # or "json"
    log_level: str = "INFO"
    # WeCom
    wecom_corp_id: str = ""
    wecom_agent_id: str = ""
    wecom_secret: str = field(default="", repr=False)
    wecom_token: str = field(default="", repr=False)
    wecom_encoding_aes_key: str = field(default="", repr=False)
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    # Feishu / Lark
    feishu_app_id: str = ""
    feishu_app_secret: str = field(default="", repr=False)
    feishu_verification_token: str = field(default="", repr=False)
    feishu_encrypt_key: str = field(default="", repr=False)
    feishu_api_base: str = "https://open.feishu.cn"
    # Slack
    slack_signing_secret: str = field(default="", repr=False)
    slack_bot_token: str = field(default="", repr=False)
    slack_api_base: str = "https://slack.com/api"

    def __post_init__(self) -> None:
        if self.language not in DEFAULT_ALARM_TYPES:
            raise SettingsError(f"BOT_LANGUAGE must be zh or en, not {self.language!r}")
        if self.vlm_image_mode not in ("base64", "url"):
            raise SettingsError(f"VLM_IMAGE_MODE must be base64 or url, not {self.vlm_image_mode!r}")
        if self.vlm_image_max_side != 0 and not 256 <= self.vlm_image_max_side <= 8192:
            raise SettingsError(f"VLM_IMAGE_MAX_SIDE must be 0 (as is) or 256 to 8192, not {self.vlm_image_max_side}")
        if not 1 <= self.vlm_image_quality <= 95:  # Pillow: above 95 only grows the file
            raise SettingsError(f"VLM_IMAGE_QUALITY must be 1 to 95, not {self.vlm_image_quality}")
        if self.worker_mode == "rq":
            raise SettingsError(
                "WORKER_MODE=rq is retired: use WORKER_MODE=worker and run `flask --app wsgi turns work` "
                "(the Procfile's worker process) in place of `rq worker`"
            )
        if self.worker_mode not in ("thread", "worker"):
            raise SettingsError(f"WORKER_MODE must be thread or worker, not {self.worker_mode!r}")
        _check_redis(self)
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"LOG_FORMAT must be text or json, not {self.log_format!r}")
        for name in (
            "session_ttl_seconds",
            "history_max_turns",
            "max_image_bytes",
            "max_photos_per_report",
            "worker_threads",
            "turn_queue_max",
            "turn_visibility_seconds",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name.upper()} must be at least 1")
        if not 0 < self.nlu_timeout_seconds <= 60:
            raise SettingsError("NLU_TIMEOUT_SECONDS must be above 0 and at most 60 (a user waits for it)")
        if self.nlu_base_url and self.nlu_base_url != "off" and not re.match(r"^https?://[^\s/]+", self.nlu_base_url):
            raise SettingsError("NLU_BASE_URL must be an http(s) URL, or off")
        _check_voice(self)
        if not 0 <= self.photo_burst_seconds <= 300:
            raise SettingsError("PHOTO_BURST_SECONDS must be between 0 and 300")
        if self.max_photos_per_report > 10:
            raise SettingsError("MAX_PHOTOS_PER_REPORT must be at most 10 (one VLM request carries them all)")
        try:
            ZoneInfo(self.timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise SettingsError(
                f"TIMEZONE must be an IANA time zone such as Asia/Shanghai, not {self.timezone!r}"
            ) from None
        try:
            parse_duty_routes(self.duty_routes)
        except ValueError as exc:
            raise SettingsError(f"DUTY_ROUTES {exc}") from None
        try:
            check_time_settings(self.resolve_sla_hours, self.business_hours, self.holidays, self.escalation_routes)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        if not self.claim_sla_minutes > 0 or not 0 <= self.max_escalations <= 10:
            raise SettingsError("CLAIM_SLA_MINUTES must be above 0 and MAX_ESCALATIONS between 0 and 10")
        if self.close_policy not in ("anyone", "assignee") or not 0 < self.auto_confirm_hours <= 24 * 365:
            raise SettingsError("CLOSE_POLICY must be anyone or assignee, AUTO_CONFIRM_HOURS above 0 and at most 8760")
        _check_reports(self)
        if not 0 <= self.duplicate_radius_meters <= 10_000:
            raise SettingsError("DUPLICATE_RADIUS_METERS must be between 0 and 10000")
        if not 0 <= self.site_snap_meters <= 5000:
            raise SettingsError("SITE_SNAP_METERS must be between 0 and 5000")
        if not 0 < self.order_webhook_retry_base_seconds <= 3600:
            raise SettingsError("ORDER_WEBHOOK_RETRY_BASE_SECONDS must be above 0 and at most 3600")
        if self.order_webhook_url and not re.match(r"^https?://[^\s/]+", self.order_webhook_url):
            raise SettingsError("ORDER_WEBHOOK_URL must be an http(s) URL")
        if self.order_webhook_url and not self.order_webhook_secret:
            raise SettingsError(
                "ORDER_WEBHOOK_SECRET must be set with ORDER_WEBHOOK_URL (receivers check the signature)"
            )
        try:
            parse_admin_tokens(self.admin_token)
        except ValueError as exc:
            raise SettingsError(f"ADMIN_TOKEN {exc}") from None
        if self.alarm_types and not set(CATCH_ALL_TYPES) & set(self.alarm_types):
            # unknown VLM answers fall back to the last type, which must be a catch-all
            object.__setattr__(self, "alarm_types", (*self.alarm_types, "其他" if self.language == "zh" else "other"))

    @property
    def redis_configured(self) -> bool:
        """A shared Redis is set (plain, cluster or Sentinel); else the embedded in-process store is used."""
        return bool(self.redis_url or self.redis_sentinels)

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return parse_sentinels(self.redis_sentinels)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def alarm_type_list(self) -> tuple[str, ...]:
        return self.alarm_types or DEFAULT_ALARM_TYPES[self.language]

    @property
    def fallback_alarm_type(self) -> str:
        """The catch-all type an unknown VLM answer becomes."""
        return catch_all_type(self.alarm_type_list)

    @functools.cached_property
    def duty(self) -> DutyRoutes:
        return parse_duty_routes(self.duty_routes)

    @functools.cached_property
    def business_time(self) -> BusinessHours:
        return BusinessHours.from_settings(self.business_hours, self.timezone, self.holidays)

    @functools.cached_property
    def escalation(self) -> DutyRoutes:
        return parse_duty_routes(self.escalation_routes)

    @functools.cached_property
    def _resolve_sla_hours(self) -> dict[str, float] | None:
        return parse_sla_hours(self.resolve_sla_hours)  # read once: asked per order by the sweep and the reports

    def resolve_sla_seconds(self, severity: str) -> float | None:
        """Business seconds from the claim to ``resolved`` (``medium``'s for an unknown severity); None: off."""
        hours = self._resolve_sla_hours
        return None if hours is None else hours.get(severity, hours["medium"]) * 3600

    def claim_sla_seconds(self, severity: str) -> float:
        """How long an order may wait unclaimed before it is posted again; half for high severity."""
        return self.claim_sla_minutes * 60 / (2 if severity == "high" else 1)

    @functools.cached_property
    def digest(self) -> DutyRoutes:
        return parse_duty_routes(self.digest_routes)

    @property
    def digest_time(self) -> tuple[int, int]:
        hour, minute = self.digest_at.split(":")
        return int(hour), int(minute)

    @property
    def admin_tokens(self) -> dict[str, str]:
        """``ADMIN_TOKEN`` as audit name → secret (empty: the admin API and page are off)."""
        return parse_admin_tokens(self.admin_token)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret this deployment is given: the fields kept out of ``repr``, each ADMIN_TOKEN secret on
        its own and the passwords in REDIS_URL and DATABASE_URL. The logs mask them wherever they appear."""
        values = {str(getattr(self, f.name)) for f in fields(self) if not f.repr}
        values |= set(self.admin_tokens.values())
        values |= {_url_password(url) for url in (self.redis_url, self.database_url)}
        # Shorter strings are not worth masking: they would cut holes in ordinary words.
        return tuple(sorted(v for v in values if len(v) >= _SECRET_MIN_LENGTH))

    @property
    def nlu_endpoint(self) -> tuple[str, str, str] | None:
        """(base URL, key, model) of the language model for free text, or None when there is none: its own
        ``NLU_*`` settings, else the VLM's endpoint, key and model; ``NLU_BASE_URL=off`` turns it off."""
        if self.nlu_base_url == "off":
            return None
        url = self.nlu_base_url or self.vlm_base_url
        if not url:
            return None
        key = self.nlu_api_key if self.nlu_base_url else (self.nlu_api_key or self.vlm_api_key)
        return url, key, self.nlu_model or self.vlm_model

    @property
    def generic_webhook_mode(self) -> Literal["token", "open", "off"]:
        """Secure by default: with a shared store (a real deployment) the generic webhook needs its token.

        On the embedded defaults (no ``REDIS_URL``) it stays open so a newcomer can try the bot.
        """
        if self.generic_webhook_token:
            return "token"
        return "off" if self.redis_configured else "open"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = _ENV_NAMES.get(f.name, f.name.upper())
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            raw = raw.strip()
            default = f.default
            try:
                if isinstance(default, bool):
                    values[f.name] = raw.lower() in ("1", "true", "yes", "on")
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                elif isinstance(default, tuple):
                    values[f.name] = tuple(part.strip() for part in raw.split(",") if part.strip())
                else:
                    values[f.name] = raw
            except ValueError:
                raise SettingsError(f"{name} must be a number, not {raw!r}") from None
        return cls(**values)


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:  # a malformed URL fails where it is used, naming itself; here it holds no password
        return ""


# What the transcription API takes (whisper-1: 25 MiB); a note converted to 16 kHz 16-bit WAV is 32 kB a second,
# so 600 s (19.2 MB) is the longest that always fits.
_STT_MAX_BYTES = 25 * 1024 * 1024
_MAX_VOICE_SECONDS = 600


def _check_voice(s: Settings) -> None:
    if not 0 < s.stt_timeout_seconds <= 600:
        raise SettingsError("STT_TIMEOUT_SECONDS must be above 0 and at most 600")
    if not 0 < s.max_voice_seconds <= _MAX_VOICE_SECONDS:
        raise SettingsError(f"MAX_VOICE_SECONDS must be above 0 and at most {_MAX_VOICE_SECONDS}")
    if not 1 <= s.max_voice_bytes <= _STT_MAX_BYTES:
        raise SettingsError(f"MAX_VOICE_BYTES must be between 1 and {_STT_MAX_BYTES} (what the speech API takes)")


def _check_reports(s: Settings) -> None:
    try:
        parse_duty_routes(s.digest_routes)
    except ValueError as exc:
        raise SettingsError(f"DIGEST_ROUTES {exc}") from None
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", s.digest_at):
        raise SettingsError(f"DIGEST_AT must be a local time HH:MM such as 08:30, not {s.digest_at!r}")
    if s.digest_every not in ("day", "week"):
        raise SettingsError(f"DIGEST_EVERY must be day or week, not {s.digest_every!r}")


def _check_redis(s: Settings) -> None:
    if s.redis_cluster and s.redis_sentinels:
        raise SettingsError("REDIS_CLUSTER and REDIS_SENTINELS exclude each other: pick one")
    if s.redis_cluster and not s.redis_url:
        raise SettingsError("REDIS_CLUSTER=true needs REDIS_URL, the address of one node of the cluster")
    if bool(s.redis_sentinels) != bool(s.redis_sentinel_master):
        raise SettingsError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together: set both or neither")
    if s.redis_sentinels:
        try:
            parse_sentinels(s.redis_sentinels)
        except ValueError as exc:
            raise SettingsError(f"REDIS_SENTINELS {exc}") from None


# Settings whose variable name is not simply the field name upper-cased.
_ENV_NAMES = {"language": "BOT_LANGUAGE", "redis_prefix": "REDIS_KEY_PREFIX"}


def env_name(field_name: str) -> str:
    """The environment variable behind a Settings field (for docs and errors)."""
    return _ENV_NAMES.get(field_name, field_name.upper())
