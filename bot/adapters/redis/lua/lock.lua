-- The user's turn lock, shared by the scripts that end a turn or give a place back.

-- Drop the ticket `token` from the user's lock `queue`, delete its heartbeat `alive`, and wake the next waiter:
-- a push on its wake list (`wake_prefix` .. its token), which it waits on with BLPOP instead of polling.
local function release(queue, alive, token, wake_prefix)
  redis.call('LREM', queue, 1, token)
  redis.call('DEL', alive)
  local nxt = redis.call('LINDEX', queue, 0)
  if nxt then
    local wake = wake_prefix .. nxt
    redis.call('RPUSH', wake, '1')
    redis.call('PEXPIRE', wake, 10000)
  end
end

-- A reservation no turn took up (its heartbeat still says 'r') is given back, waking the next turn; one taken up
-- is its turn's to release.
local function give_back(queue, alive, token, wake_prefix)
  if redis.call('GET', alive) == 'r' then
    release(queue, alive, token, wake_prefix)
  end
end
