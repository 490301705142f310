-- A turn's replies were sent while it held the lock: its stored result becomes the "answered" `marker` (when there
-- is one: '' none), and the lock is released. 1 if the result was replaced by the marker (the replies were this
-- run's to send).
local replaced = 0
if marker ~= '' then
  local old = redis.call('SET', result, marker, 'XX', 'EX', marker_ttl, 'GET')
  if old and old ~= marker then replaced = 1 end
end
release(queue, alive, token, wake_prefix)
return replaced
