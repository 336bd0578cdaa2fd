-- Count a batch of landings from the journal, atomically and idempotently.
-- ARGV[1] now (ms), ARGV[2] session retention (s), ARGV[3] landings one
-- client may add per minute (0: no limit), ARGV[4..] one JSON landing each:
-- {ts (ms), day, mode, sid? or visitor, client?, campaign?, source?, ...}.
-- Returns one word per landing: counted, duplicate or limited.
local now_ms = tonumber(ARGV[1])
local retention = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local window_ms = 30 * 60 * 1000
local results = {}
local touched = {}

for i = 4, #ARGV do
  local e = cjson.decode(ARGV[i])
  local result = 'counted'
  local skey, vkey
  if type(e.sid) == 'string' then
    skey = KEY.session(e.mode, e.sid)
    if redis.call('HEXISTS', skey, 'landed_at') == 1 then result = 'duplicate' end
  else
    vkey = KEY.visitor(e.mode, e.visitor)
    local prev = tonumber(redis.call('GET', vkey) or '')
    if prev and math.abs(e.ts - prev) < window_ms then result = 'duplicate' end
  end
  -- A landing that joins a payment Stripe already confirmed is no inflation:
  -- it is never limited (customers behind one NAT share an address).
  local joins_payment = skey and redis.call('HEXISTS', skey, 'status') == 1
  if result == 'counted' and limit > 0 and type(e.client) == 'string'
      and not joins_payment then
    local rkey = KEY.ratelimit(e.client, math.floor(e.ts / 60000))
    local n = redis.call('INCR', rkey)
    if n == 1 then redis.call('EXPIRE', rkey, 120) end
    if n > limit then result = 'limited' end
  end
  if result == 'counted' then
    local landing = {
      campaign = type(e.campaign) == 'string' and e.campaign or NONE,
      source = type(e.source) == 'string' and e.source or NONE,
      medium = type(e.medium) == 'string' and e.medium or NONE,
      content = type(e.content) == 'string' and e.content or NONE,
      term = type(e.term) == 'string' and e.term or NONE,
    }
    bump(e.mode, landing.campaign, landing, e.day, 'landings', 1)
    if skey then
      local s = hgetall(skey)
      redis.call('HSET', skey, 'landed_at', e.ts, 'landed_day', e.day,
        'campaign', landing.campaign, 'source', landing.source,
        'medium', landing.medium, 'content', landing.content, 'term', landing.term)
      if s.status then
        -- The payment came first: its outcome moves from (unattributed) to
        -- this campaign, on the payment's day, all counters together.
        count_outcome(e.mode, UNATTRIBUTED, dims_of(s), s, -1)
        for k, v in pairs(landing) do s[k] = v end
        count_outcome(e.mode, landing.campaign, dims_of(s), s, 1)
      end
      touch_session(e.mode, e.sid, skey, e.ts, retention)
    else
      local ttl = math.max(math.floor((e.ts + window_ms - now_ms) / 1000), 60)
      redis.call('SET', vkey, e.ts, 'EX', ttl)
    end
    touched[e.mode] = true
  end
  results[#results + 1] = result
end

for mode in pairs(touched) do finish(mode, now_ms, retention) end
return results
