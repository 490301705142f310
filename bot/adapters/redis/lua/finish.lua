-- Save the session for `ttl` seconds; remember the state of a session mid-flow (`flow_state`, '' when idle: forget
-- it) for `flow_ttl`; remember the turn's result (`result_json`, '' none) for `result_ttl`; release the lock when
-- given the turn's `token` ('' when the replies are still to be sent: ``answer`` releases it then).
redis.call('SET', session, record, 'EX', ttl)
if flow_state == '' then
  redis.call('DEL', flow)
else
  redis.call('SET', flow, flow_state, 'EX', flow_ttl)
end
if result_json ~= '' then redis.call('SET', result, result_json, 'EX', result_ttl) end
if token ~= '' then release(queue, alive, token, wake_prefix) end
return 1
