-- Record a turn in the ops index, on one shard: the session `member` at `now` in the index of all sessions, of its
-- platform and of its state, out of the state indexes it is no longer in (the keys from `stale_from` on); the
-- turn counted in the hour's counter, whose expiry is set with a minute's first turn (it outlives the last minute
-- it counts by `counter_ttl`).
redis.call('ZADD', all_index, now, member)
redis.call('ZADD', platform_index, now, member)
redis.call('ZADD', state_index, now, member)
if redis.call('HINCRBY', counter, minute, 1) == 1 then redis.call('EXPIRE', counter, counter_ttl) end
for i = stale_from, #KEYS do redis.call('ZREM', KEYS[i], member) end
return 1
