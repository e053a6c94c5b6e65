-- Sliding-log rate limit over several buckets: admit the cost on all of them, or on none.
-- KEYS: per bucket a sorted set (member "<seq>:<cost>", score = stamp ms) and a hash (total, seq).
-- ARGV: per bucket: limit, window_ms, cost.
-- Returns {allowed, blocked (1-based, 0 if allowed), retry_after_ms, remaining, now_ms}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS / 2
local totals = {}
for i = 1, n do
  local z, m = KEYS[2 * i - 1], KEYS[2 * i]
  local cutoff = now - tonumber(ARGV[3 * i - 1])
  local total = tonumber(redis.call('HGET', m, 'total') or '0')
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
  if #old > 0 then
    for _, member in ipairs(old) do
      total = total - tonumber(string.match(member, ':(%-?%d+)$'))
    end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
    redis.call('HSET', m, 'total', total)
  end
  totals[i] = total
end
local remaining = nil
for i = 1, n do
  local left = tonumber(ARGV[3 * i - 2]) - totals[i]
  if remaining == nil or left < remaining then remaining = left end
end
for i = 1, n do
  local limit, window, cost = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  if totals[i] + cost > limit then
    local wait = window
    if cost <= limit then
      local freed = 0
      local entries = redis.call('ZRANGE', KEYS[2 * i - 1], 0, -1, 'WITHSCORES')
      for j = 1, #entries, 2 do
        freed = freed + tonumber(string.match(entries[j], ':(%-?%d+)$'))
        if totals[i] - freed + cost <= limit then
          wait = math.max(tonumber(entries[j + 1]) + window - now, 0)
          break
        end
      end
    end
    return {0, i, wait, math.max(remaining, 0), now}
  end
end
remaining = nil
for i = 1, n do
  local z, m = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, window, cost = tonumber(ARGV[3 * i - 2]), ARGV[3 * i - 1], ARGV[3 * i]
  local seq = redis.call('HINCRBY', m, 'seq', 1)
  redis.call('ZADD', z, now, seq .. ':' .. cost)
  local total = redis.call('HINCRBY', m, 'total', cost)
  redis.call('PEXPIRE', z, window)
  redis.call('PEXPIRE', m, window)
  local left = limit - total
  if remaining == nil or left < remaining then remaining = left end
end
return {1, 0, 0, math.max(remaining or 0, 0), now}
