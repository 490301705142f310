"""The speech-to-text settings: read from the environment, checked at start-up, the key kept out of logs."""

from __future__ import annotations

import pytest

from bot.config import Settings, SettingsError


def test_voice_settings_are_read_from_the_environment_with_defaults() -> None:
    default = Settings.from_env({})
    assert (default.stt_base_url, default.stt_model, default.stt_timeout_seconds) == ("", "whisper-1", 30.0)
    assert (default.max_voice_seconds, default.max_voice_bytes) == (120.0, 10 * 1024 * 1024)
    settings = Settings.from_env(
        {
            "STT_BASE_URL": "http://stt.local/v1",
            "STT_API_KEY": "sk-speech-key",
            "STT_MODEL": "large-v3",
            "STT_TIMEOUT_SECONDS": "12.5",
            "MAX_VOICE_SECONDS": "60",
            "MAX_VOICE_BYTES": "2000000",
        }
    )
    assert settings.stt_base_url == "http://stt.local/v1" and settings.stt_model == "large-v3"
    assert (settings.stt_timeout_seconds, settings.max_voice_seconds, settings.max_voice_bytes) == (12.5, 60, 2000000)
    assert "sk-speech-key" not in repr(settings)
    assert "sk-speech-key" in settings.secret_values


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STT_TIMEOUT_SECONDS", "0"),
        ("STT_TIMEOUT_SECONDS", "601"),
        ("MAX_VOICE_SECONDS", "0"),
        ("MAX_VOICE_SECONDS", "601"),
        ("MAX_VOICE_BYTES", "0"),
        ("MAX_VOICE_BYTES", str(26 * 1024 * 1024)),
        ("MAX_VOICE_SECONDS", "two minutes"),
    ],
)
def test_a_malformed_voice_setting_stops_start_up_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
