-- A webhook's dedupe marks (the keys from `marks_from` on, SET NX for `mark_ttl`) and its hand-off to the turn
-- stream in one round trip, with the turn's place in its user's lock queue reserved in the same step (when
-- `place_token` is not ''), so turns run in the order their messages arrived. Every mark is tried (as separate
-- round trips would); 0 if any was there already; -1 when the stream holds `max_len` entries (the marks are taken
-- back, so the platform's retry is processed); else the new entry's id. Its fields are the arguments from
-- `fields_from` on.
local fresh = true
for i = marks_from, #KEYS do
  if not redis.call('SET', KEYS[i], '1', 'NX', 'EX', mark_ttl) then fresh = false end
end
if not fresh then return 0 end
if redis.call('XLEN', stream) >= tonumber(max_len) then
  for i = marks_from, #KEYS do redis.call('DEL', KEYS[i]) end
  return -1
end
if place_token ~= '' and redis.call('SET', place_alive, 'r', 'PX', place_ttl_ms, 'NX') then
  redis.call('RPUSH', queue, place_token)
  redis.call('PEXPIRE', queue, tonumber(place_ttl_ms) * 4)
end
return redis.call('XADD', stream, '*', unpack(ARGV, fields_from))
