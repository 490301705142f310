"""Everything kept in Redis: the client, sessions with the user's turn lock, the Lua scripts, the ops index,
the audit trail, the order-event outbox and the turn stream."""
