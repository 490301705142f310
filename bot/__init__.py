"""The domain of the work-order bot.

Boundary, held by ``tests/unit/test_boundary.py``:

* nothing in ``bot/`` imports Flask or a platform SDK — platforms live in ``handlers/``;
* nothing here does I/O at import time: clients are built in constructors;
* the only platform knowledge is the ``platform`` string on :class:`bot.messages.Incoming`.
"""
