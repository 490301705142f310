-- A turn's place in the user's queue, reserved as its message arrives: the ticket queued, its heartbeat marked 'r'
-- (nobody has taken it up yet), both living as a turn's heartbeat does.
redis.call('RPUSH', queue, token)
redis.call('PEXPIRE', queue, tonumber(alive_ms) * 4)
redis.call('SET', alive, 'r', 'PX', alive_ms)
return 1
