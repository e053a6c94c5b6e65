-- Atomically check every budget counter and hold an amount on all of them, or on none.
-- KEYS[1]: reservation record ("held" | "done"); KEYS[2..]: counter hashes
--   (fields: sn = spent nanos, st = spent tokens, h:<rid> = "<nanos> <tokens> <until_ms>").
-- ARGV: rid, nanos, tokens, hold_ms, grace_ms, then per counter: limit_nanos, limit_tokens, expire_at_ms
--   ("" = no limit / no expiry).
-- Returns {status, blocked, then sn, st, held_nanos, held_tokens per counter};
--   status 1 = held, 0 = refused (blocked = 1-based counter index), 2 = id already finished.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('GET', KEYS[1]) == 'done' then
  return {2, 0}
end
local rid = ARGV[1]
local nanos, tokens = tonumber(ARGV[2]), tonumber(ARGV[3])
local own = 'h:' .. rid
local out = {}
local blocked = 0
for i = 2, #KEYS do
  local base = 6 + (i - 2) * 3
  local sn, st, hn, ht = 0, 0, 0, 0
  local flat = redis.call('HGETALL', KEYS[i])
  for j = 1, #flat, 2 do
    local f, v = flat[j], flat[j + 1]
    if f == 'sn' then
      sn = tonumber(v)
    elseif f == 'st' then
      st = tonumber(v)
    elseif f ~= own and string.sub(f, 1, 2) == 'h:' then
      local a, b, u = string.match(v, '^(%-?%d+) (%-?%d+) (%d+)$')
      if tonumber(u) <= now then
        redis.call('HDEL', KEYS[i], f)
      else
        hn = hn + tonumber(a)
        ht = ht + tonumber(b)
      end
    end
  end
  table.insert(out, sn)
  table.insert(out, st)
  table.insert(out, hn)
  table.insert(out, ht)
  if blocked == 0 then
    local ln, lt = ARGV[base], ARGV[base + 1]
    if (ln ~= '' and sn + hn + nanos > tonumber(ln)) or (lt ~= '' and st + ht + tokens > tonumber(lt)) then
      blocked = i - 1
    end
  end
end
if blocked > 0 then
  return {0, blocked, unpack(out)}
end
local hold = ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. string.format('%d', now + tonumber(ARGV[4]))
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], own, hold)
  local exp = ARGV[6 + (i - 2) * 3 + 2]
  if exp ~= '' then
    redis.call('PEXPIREAT', KEYS[i], exp)
  end
end
redis.call('SET', KEYS[1], 'held', 'PX', tonumber(ARGV[4]) + tonumber(ARGV[5]))
return {1, 0, unpack(out)}
