-- Give a reserved place back if no turn took it up (its job ran no turn, or was never handed on).
give_back(queue, alive, token, wake_prefix)
return 1
