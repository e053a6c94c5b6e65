-- Settle (replace the hold with actual spend) or release (drop the hold) a reservation; idempotent.
-- KEYS[1]: reservation record; KEYS[2..]: counter hashes (see reserve.lua).
-- ARGV: rid, mode ("settle" | "release"), nanos, tokens, grace_ms, then per counter: expire_at_ms ("" = none).
-- Returns {0} if the id was already finished, else {1, then sn, st per counter (settle only)}.
if redis.call('GET', KEYS[1]) == 'done' then
  return {0}
end
local own = 'h:' .. ARGV[1]
local settle = ARGV[2] == 'settle'
local out = {1}
for i = 2, #KEYS do
  redis.call('HDEL', KEYS[i], own)
  if settle then
    table.insert(out, redis.call('HINCRBY', KEYS[i], 'sn', ARGV[3]))
    table.insert(out, redis.call('HINCRBY', KEYS[i], 'st', ARGV[4]))
    local exp = ARGV[5 + i - 1]
    if exp ~= '' then
      redis.call('PEXPIREAT', KEYS[i], exp)
    end
  end
end
redis.call('SET', KEYS[1], 'done', 'PX', ARGV[5])
return out
