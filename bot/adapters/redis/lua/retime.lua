-- Ops gave the session `ttl` seconds: its key expires then, and the mark of a session mid-flow ("state seconds")
-- says the same seconds, so "your report timed out after …" names the time the session really had. The mark keeps
-- its state and outlives the session by `flow_memory`, as ``finish`` writes it. 0 when there is no session.
if redis.call('EXPIRE', session, ttl) == 0 then return 0 end
local mark = redis.call('GET', flow)
if mark then
  local state = string.match(mark, '^(%S+)')
  redis.call('SET', flow, state .. ' ' .. ttl, 'EX', tonumber(ttl) + tonumber(flow_memory))
end
return 1
