"""The flows of a turn, each a class over the one ``TurnContext``: report, close and lookups (reply-only)."""
