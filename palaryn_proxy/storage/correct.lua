-- Adjust an earlier rate-limit hit by a delta, stamped at the original hit so both leave the window together.
-- KEYS: the bucket's sorted set and hash (see hit.lua). ARGV: window_ms, stamp_ms, delta.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, stamp = tonumber(ARGV[1]), tonumber(ARGV[2])
if stamp <= now - window then
  return 0
end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('ZADD', KEYS[1], stamp, seq .. ':' .. ARGV[3])
redis.call('HINCRBY', KEYS[2], 'total', ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
return 1
