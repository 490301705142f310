"""The sentences of voice notes, zh and en. Part of the one sentence table: ``bot.replies`` merges them."""

from __future__ import annotations

VOICE_PROBLEMS: dict[str, dict[str, str]] = {
    # why a voice note was not heard (``bot.dialogue.voice``); the open question follows
    "voice_no_stt": {
        "zh": "这里还不能听语音，请打字告诉我。",
        "en": "I cannot listen to voice notes here; please type it.",
    },
    "voice_stt_failed": {
        "zh": "没能听懂这条语音，请打字告诉我。",
        "en": "I could not understand the voice note; please type it.",
    },
    "voice_empty": {
        "zh": "这条语音里没听到说话，请再说一次或打字。",
        "en": "I heard no words in that voice note; please say it again or type it.",
    },
    "voice_too_long": {
        "zh": "语音太长了（最多 {limit} 秒），请说短一点或打字。",
        "en": "That voice note is too long (at most {limit} s); please keep it shorter or type it.",
    },
    "voice_too_large": {
        "zh": "语音文件太大，请说短一点或打字。",
        "en": "That voice note is too large; please keep it shorter or type it.",
    },
    "voice_unsupported": {
        "zh": "这种语音格式我听不了，请打字告诉我。",
        "en": "I cannot play that kind of voice note; please type it.",
    },
    "voice_download_failed": {
        "zh": "语音没有收到完整，请再发一次或打字。",
        "en": "The voice note did not come through; please send it again or type it.",
    },
}

VOICE_SENTENCES: dict[str, dict[str, str]] = {
    **VOICE_PROBLEMS,
    "voice_heard": {"zh": "🎤 “{words}”", "en": "🎤 “{words}”"},
    "note_added": {"zh": "已记下，作为工单备注。", "en": "Noted: it goes on the order as your note."},
    "summary_note": {"zh": "备注：{value}", "en": "Note: {value}"},
    # a voice reply in a duty card's thread that could not be transcribed: kept as a note all the same
    "voice_note_untranscribed": {
        "zh": "（语音备注，未能转成文字，请在管理页收听）",
        "en": "(a voice note that could not be transcribed: listen to it on the admin page)",
    },
    "voice_note_kept": {
        "zh": "录音已保存在工单上，但没能转成文字；文字要紧的话请再打字补充。",
        "en": "The recording is kept on the order, but I could not transcribe it; if the words matter, type them too.",
    },
}
