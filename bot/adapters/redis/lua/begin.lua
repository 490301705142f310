-- Queue for the user's lock and, at the head of the queue, bring what the turn starts from. A turn whose place was
-- reserved as its message arrived (`place_alive` still says 'r': nobody took it up) takes that place; any other
-- queues at the end. At the head: {1, session, result, flow, reserved} (flow: the state of a session that expired
-- mid-flow, read only when there is no session; the save forgets it). Behind another turn: {0, reserved}.
local ticket, reserved = token, 0
if place_token ~= '' and redis.call('GET', place_alive) == 'r' then
  ticket, reserved = place_token, 1
  redis.call('SET', place_alive, '1', 'PX', alive_ms)
else
  redis.call('SET', alive, '1', 'PX', alive_ms)
  redis.call('RPUSH', queue, ticket)
end
redis.call('PEXPIRE', queue, tonumber(alive_ms) * 4)
if redis.call('LINDEX', queue, 0) ~= ticket then
  return {0, reserved}
end
local stored_result = false
if read_result == '1' then stored_result = redis.call('GET', result) end
local stored_session = redis.call('GET', session)
local stored_flow = false
if not stored_session then stored_flow = redis.call('GET', flow) end
return {1, stored_session, stored_result, stored_flow, reserved}
