-- Give the lock up outside a save (a turn that saved nothing, or failed), waking the next turn.
release(queue, alive, token, wake_prefix)
return 1
