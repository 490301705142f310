-- A turn's place in the user's queue, reserved as its message arrives: the ticket queued, its heartbeat marked 'r'
-- (nobody has taken it up yet), both living as a turn's heartbeat does. A place that exists already (the same
-- message handed on again while its turn waits or runs) is left as it is: two runs of one message never share it.
if redis.call('SET', alive, 'r', 'PX', alive_ms, 'NX') then
  redis.call('RPUSH', queue, token)
  redis.call('PEXPIRE', queue, tonumber(alive_ms) * 4)
end
return 1
