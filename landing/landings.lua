-- Count a batch of landings from the journal, atomically and idempotently;
-- every landing of a batch is of one mode (the store splits batches), so a
-- call stays in that mode's hash slot.
-- ARGV[1] now (ms), ARGV[2] session retention (s), ARGV[3] landings one
-- client may add per minute (0: no limit), ARGV[4] UNCONFIRMED_DAYS (s),
-- ARGV[5] REPORT_TIMEZONE's UTC offset (s) for the batch's hours,
-- ARGV[6..] one JSON landing each: {ts (ms), day, mode, sid? or visitor
-- (and visitor_prev near a salt's rotation), client?, campaign?, source?, ...}.
-- Returns one word per landing: counted, duplicate or limited.
-- KEYS[1]: the mode's version key (the call's hash slot: the mode's).
CFG.now_ms = tonumber(ARGV[1])
CFG.retention = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
CFG.unconfirmed = tonumber(ARGV[4])
local offset = tonumber(ARGV[5])
local window_ms = 30 * 60 * 1000
local results = {}

local function seen_within(vkey, ts)
  local prev = tonumber(redis.call('GET', vkey) or '')
  return prev and math.abs(ts - prev) < window_ms
end

for i = 6, #ARGV do
  local e = cjson.decode(ARGV[i])
  local seconds = math.floor(e.ts / 1000)
  local when = e.day .. '@' .. (seconds - (seconds + offset) % 3600)
  local mode = e.mode
  local result = 'counted'
  local skey, vkey
  if type(e.sid) == 'string' then
    skey = KEY.session(mode, e.sid)
    if redis.call('HEXISTS', skey, 'landed_at') == 1 then result = 'duplicate' end
  else
    vkey = KEY.visitor(mode, e.visitor)
    -- The digest's salt rotates; near a rotation the entry also carries the
    -- previous salt's digest, so the 30 minutes hold across it.
    if seen_within(vkey, e.ts) or (type(e.visitor_prev) == 'string'
        and seen_within(KEY.visitor(mode, e.visitor_prev), e.ts)) then
      result = 'duplicate'
    end
  end
  -- A landing that joins a payment Stripe already confirmed is no inflation:
  -- it is never limited (customers behind one NAT share an address).
  local joins_payment = skey and redis.call('HEXISTS', skey, 'status') == 1
  if result == 'counted' and limit > 0 and type(e.client) == 'string'
      and not joins_payment then
    local rkey = KEY.ratelimit(mode, e.client, math.floor(e.ts / 60000))
    local n = redis.call('INCR', rkey)
    if n == 1 then redis.call('EXPIRE', rkey, 120) end
    if n > limit then result = 'limited' end
  end
  local landing = {
    campaign = resolve(mode, type(e.campaign) == 'string' and e.campaign or NONE),
  }
  for _, d in ipairs(CODES) do
    landing[d] = type(e[d]) == 'string' and e[d] or NONE
  end
  if result == 'counted' then
    bump(mode, landing.campaign, landing, when, 'landings', 1)
    per_minute(mode, e.ts, 'landings', 1)
  end
  -- A limited landing is not counted, but its session still learns its
  -- campaign: the landing counts after all once Stripe verifies a payment.
  if skey and result ~= 'duplicate' then
    local s = hgetall(skey)
    local fields = {landed_at = tostring(e.ts), landed_day = e.day, landed_when = when}
    for k, v in pairs(landing) do fields[k] = v end
    if result == 'limited' then fields.limited = '1' end
    if s.status then
      -- The payment came first: everything it counted moves from where it
      -- was ((unattributed), or its link's campaign) to this landing's
      -- campaign, on the days it was counted. The redirect wins.
      move(mode, s, skey, fields)
    else
      for k, v in pairs(fields) do s[k] = v end
    end
    local flat = {}
    for k, v in pairs(fields) do
      flat[#flat + 1] = k
      flat[#flat + 1] = v
    end
    redis.call('HSET', skey, unpack(flat))
    touch_session(mode, e.sid, skey, s, e.ts)
    TOUCHED[mode] = true
  elseif vkey and result == 'counted' then
    local ttl = math.max(math.floor((e.ts + window_ms - CFG.now_ms) / 1000), 60)
    redis.call('SET', vkey, e.ts, 'EX', ttl)
  end
  results[#results + 1] = result
end

finish()
return results
