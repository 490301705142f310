-- A finished stream entry: acknowledged and deleted together (the stream's length is what is unfinished), and its
-- turn's reserved place (when `place_token` is not '') given back if no turn took it up (a tap that ran no turn, a
-- turn that failed before its lock), waking the next.
redis.call('XACK', stream, group, entry)
redis.call('XDEL', stream, entry)
if place_token ~= '' then give_back(queue, place_alive, place_token, wake_prefix) end
return 1
