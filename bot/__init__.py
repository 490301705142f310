"""The domain of the work-order bot, and (in ``bot.adapters``) the adapters it is given.

Rooms: ``dialogue/`` (one turn), ``orders/`` (the order's rules after it exists), ``ops.py`` (on-call
use-cases), the shared vocabulary (``ports``, ``messages``, ``session``, ``config``, ``replies``), and
``adapters/`` (Redis, SQL, S3, the VLM).

Boundary, held by ``tests/unit/test_boundary.py``:

* nothing in ``bot/`` imports Flask or a platform SDK — platforms live in ``handlers/``;
* outside ``bot/adapters/`` nothing imports redis, hiredis, sqlalchemy, boto3, openai, lz4 or fakeredis,
  nor an adapter;
* nothing here does I/O at import time: clients are built in constructors;
* the only platform knowledge is the ``platform`` string on :class:`bot.messages.Incoming`.
"""
