-- Read one counter hash (see reserve.lua): {sn, st, live held nanos, live held tokens}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sn, st, hn, ht = 0, 0, 0, 0
local flat = redis.call('HGETALL', KEYS[1])
for j = 1, #flat, 2 do
  local f, v = flat[j], flat[j + 1]
  if f == 'sn' then
    sn = tonumber(v)
  elseif f == 'st' then
    st = tonumber(v)
  elseif string.sub(f, 1, 2) == 'h:' then
    local a, b, u = string.match(v, '^(%-?%d+) (%-?%d+) (%d+)$')
    if tonumber(u) > now then
      hn = hn + tonumber(a)
      ht = ht + tonumber(b)
    end
  end
end
return {sn, st, hn, ht}
