"""What one turn does, by flow: ``report`` (photo → where → confirm), ``close`` ("结单 WO-…" → photo)
and ``lookups`` (replies that change no state). ``bot.dialogue.turn.Turn`` puts them together; the
machine's table in ``bot.dialogue.machine`` names their methods.
"""
