-- Shared by every script (store.py prepends it after keys.py's KEY table):
-- how one counted thing lands in the counters. Key names come from KEY.
--
-- Two rules hold everything together:
-- * A campaign is confirmed once a verified Stripe event (or a registered
--   link, or a marketer) vouches for it. Until then what landings write for
--   it lives only in its own keys, with a TTL renewed by each landing, and
--   an index (unconfirmed) that the readers use; confirming folds it into
--   the scoreboards and makes it permanent. So anonymous traffic can never
--   grow the store for good (SPEC §4).
-- * Everything a checkout session ever added to a campaign's counters
--   (outcome, revenue, refunds, renewals) is also kept in the session's own
--   ledger (fields `l:{when}|{metric}`), so moving the session to another
--   campaign replays exactly what it added, whatever the order events came.
--
-- `when` says where in time a count goes: `{day}@{hour}`, the day in
-- REPORT_TIMEZONE and the start of its hour there (epoch seconds; "" when
-- not known). Hourly counters live HOURS_KEPT, minute counters MINUTES_KEPT.
local NONE = '(none)'
local UNATTRIBUTED = '(unattributed)'
local DIMS = {'source', 'medium', 'content', 'term', 'payment_link'}
local CODES = {'source', 'medium', 'content', 'term'}
local METRIC = {paid = 'conversions', pending = 'pending', failed = 'failed'}
-- Paid and failed are final; pending never overwrites them.
local RANK = {pending = 1, paid = 2, failed = 2}
-- Set by each script from its ARGV: now_ms, retention (s), unconfirmed (s).
local CFG = {}
local HOURS_KEPT = 30 * 86400
local MINUTES_KEPT = 3 * 3600

local function split_when(when)
  local day, hour = string.match(when, '^([^@]+)@?(.*)$')
  return day, hour
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- HINCRBY that leaves no zero behind, so hashes hold only what counts.
local function hincr(key, field, by)
  if by == 0 then return end
  if redis.call('HINCRBY', key, field, by) == 0 then
    redis.call('HDEL', key, field)
  end
end

-- Days whose scoreboard counters this script changed, and modes it changed:
-- finish() bumps their versions, so readers can keep unchanged days' sums.
local CHANGED_DAYS = {live = {}, test = {}}
local TOUCHED = {}

-- A renamed campaign's numbers live under its new name (rename_campaign).
local function resolve(mode, campaign)
  local to = redis.call('HGET', KEY.aliases(mode), campaign)
  if to then return to end
  return campaign
end

local function is_confirmed(mode, campaign)
  return redis.call('SISMEMBER', KEY.confirmed(mode), campaign) == 1
end

-- The days a campaign has numbers on.
local function days_of(mode, campaign)
  local seen, out = {}, {}
  for _, f in ipairs(redis.call('HKEYS', KEY.campaign_daily(mode, campaign))) do
    local day = string.match(f, '^([^|]+)|')
    if day and not seen[day] then
      seen[day] = true
      out[#out + 1] = day
    end
  end
  return out
end

-- Every key holding a campaign's own numbers, and its hourly keys.
local function campaign_keys(mode, campaign)
  local out = {KEY.campaign(mode, campaign), KEY.campaign_daily(mode, campaign)}
  local hours = {}
  for _, day in ipairs(days_of(mode, campaign)) do
    out[#out + 1] = KEY.campaign_day(mode, campaign, day)
    hours[#hours + 1] = KEY.campaign_hours(mode, campaign, day)
  end
  return out, hours
end

-- A campaign's hourly counters into (or, sign -1, out of) the mode's.
local function hours_to_mode(mode, campaign, sign)
  for _, day in ipairs(days_of(mode, campaign)) do
    local into = KEY.hours(mode, day)
    for f, v in pairs(hgetall(KEY.campaign_hours(mode, campaign, day))) do
      hincr(into, f, sign * tonumber(v))
    end
    redis.call('EXPIRE', into, HOURS_KEPT, 'NX')
  end
end

-- Add a campaign's per-day numbers (`{day}|{metric}` → n) to the scoreboards.
local function to_scoreboards(mode, campaign, daily, sign)
  for f, v in pairs(daily) do
    local day, metric = string.match(f, '^([^|]+)|(.+)$')
    local n = sign * tonumber(v)
    hincr(KEY.board(mode), campaign .. '|' .. metric, n)
    hincr(KEY.board_day(mode, day), campaign .. '|' .. metric, n)
    hincr(KEY.daily(mode), f, n)
    CHANGED_DAYS[mode][day] = true
  end
end

-- Make a campaign's numbers permanent and put them on the scoreboards, once.
local function confirm(mode, campaign)
  if redis.call('SADD', KEY.confirmed(mode), campaign) == 0 then return false end
  if redis.call('ZREM', KEY.unconfirmed(mode), campaign) == 1 then
    to_scoreboards(mode, campaign, hgetall(KEY.campaign_daily(mode, campaign)), 1)
    hours_to_mode(mode, campaign, 1)
    local own, hours = campaign_keys(mode, campaign)
    for _, key in ipairs(own) do redis.call('PERSIST', key) end
    for _, key in ipairs(hours) do redis.call('EXPIRE', key, HOURS_KEPT) end
  end
  TOUCHED[mode] = true
  return true
end

-- Add `by` of `metric` for a campaign on a day, everywhere it is reported:
-- the campaign's daily series and breakdowns (all time and per day) and,
-- once confirmed, the all-time and daily scoreboards and the overall series.
local function bump(mode, campaign, dims, when, metric, by)
  if by == 0 then return end
  TOUCHED[mode] = true
  local day, hour = split_when(when)
  local confirmed = is_confirmed(mode, campaign)
  hincr(KEY.campaign_daily(mode, campaign), day .. '|' .. metric, by)
  if hour ~= '' then
    local hours = KEY.campaign_hours(mode, campaign, day)
    hincr(hours, hour .. '|' .. metric, by)
    if confirmed then
      redis.call('EXPIRE', hours, HOURS_KEPT, 'NX')
      hincr(KEY.hours(mode, day), hour .. '|' .. metric, by)
      redis.call('EXPIRE', KEY.hours(mode, day), HOURS_KEPT, 'NX')
    end
  end
  local all_time = KEY.campaign(mode, campaign)
  local that_day = KEY.campaign_day(mode, campaign, day)
  for _, d in ipairs(DIMS) do
    local v = dims[d]
    if v then
      local bf = d .. '|' .. v .. '|' .. metric
      hincr(all_time, bf, by)
      hincr(that_day, bf, by)
    end
  end
  if confirmed then
    to_scoreboards(mode, campaign, {[day .. '|' .. metric] = by}, 1)
  else
    -- Unconfirmed: the whole campaign expires together, UNCONFIRMED_DAYS
    -- after this, its latest landing, unless something confirms it first.
    local own, hours = campaign_keys(mode, campaign)
    for _, key in ipairs(own) do redis.call('EXPIRE', key, CFG.unconfirmed) end
    for _, key in ipairs(hours) do
      redis.call('EXPIRE', key, math.min(CFG.unconfirmed, HOURS_KEPT))
    end
    redis.call('ZADD', KEY.unconfirmed(mode), CFG.now_ms, campaign)
  end
end

-- A session's campaign: its landing's, else its link token's, else
-- (unattributed); and the breakdown values that go with it.
local function campaign_of(mode, s)
  return resolve(mode, s.campaign or s.token_campaign or UNATTRIBUTED)
end

local function dims_of(s)
  local from_token = not s.campaign and s.token_campaign
  local dims = {payment_link = s.payment_link}
  for _, d in ipairs(CODES) do
    if from_token then dims[d] = s['token_' .. d] or NONE else dims[d] = s[d] or NONE end
  end
  return dims
end

-- Count `by` of `metric` on `day` for a session in its campaign, and keep it
-- in the session's ledger.
local function contribute(mode, s, skey, when, metric, by)
  if by == 0 then return end
  local campaign = campaign_of(mode, s)
  confirm(mode, campaign)
  bump(mode, campaign, dims_of(s), when, metric, by)
  local entry = 'l:' .. when .. '|' .. metric
  hincr(skey, entry, by)
  -- The table stays what the hash holds: a move later in this call replays it.
  local n = (tonumber(s[entry]) or 0) + by
  if n == 0 then s[entry] = nil else s[entry] = tostring(n) end
end

-- The last minutes, for every campaign of a mode together: what a launch
-- looks like right now. Only new facts, never moves.
local function per_minute(mode, at_ms, metric, by)
  local minute = math.floor(at_ms / 60000) * 60
  local key = KEY.minutes(mode, minute - minute % 3600)
  hincr(key, minute .. '|' .. metric, by)
  redis.call('EXPIRE', key, MINUTES_KEPT, 'NX')
end

-- Move everything a session counted to where its (changed) fields now put
-- it: `changes` are the session fields to set. Returns the new campaign.
local function move(mode, s, skey, changes)
  local ledger = {}
  for f, v in pairs(s) do
    local entry = string.match(f, '^l:(.+)$')
    if entry then ledger[entry] = tonumber(v) end
  end
  local from, from_dims = campaign_of(mode, s), dims_of(s)
  for k, v in pairs(changes) do s[k] = v end
  local to, to_dims = campaign_of(mode, s), dims_of(s)
  if next(ledger) then confirm(mode, to) end
  for entry, n in pairs(ledger) do
    local when, metric = string.match(entry, '^([^|]+)|(.+)$')
    bump(mode, from, from_dims, when, metric, -n)
    bump(mode, to, to_dims, when, metric, n)
  end
  return to
end

-- A session started from one of our tagged links (its client_reference_id is
-- a token the store knows) belongs to the link's campaign and codes until a
-- landing says otherwise (the redirect wins). Any other reference is the
-- merchant's own, kept for the export and never read.
local TOKEN_FIELDS = {'campaign', 'source', 'medium', 'content', 'term'}

-- `link` is the token's record as the caller read it (a token lives in a
-- slot of its own, and never changes once written), or nil.
local function token_of(raw)
  if raw == nil or raw == '' then return nil end
  return cjson.decode(raw)
end

local function adopt_token(mode, s, skey, link)
  if not link or s.token_campaign then return end
  if not link.campaign then return end
  local changes, flat = {}, {}
  for _, f in ipairs(TOKEN_FIELDS) do
    changes['token_' .. f] = link[f] or NONE
    flat[#flat + 1] = 'token_' .. f
    flat[#flat + 1] = changes['token_' .. f]
  end
  move(mode, s, skey, changes)
  redis.call('HSET', skey, unpack(flat))
end

-- The money that went back from one payment (refunds, lost disputes), up to
-- what was paid, counted once: the payment's record keeps the running
-- largest `amount_refunded` per charge (`back:{charge}`) and each lost
-- dispute (`lost:{dispute}`); `counted` is what the counters already hold.
local function settle_back(mode, s, skey, pkey)
  local p = hgetall(pkey)
  local paid = tonumber(p.paid or '')
  if not paid or s.status ~= 'paid' then return 'pending' end
  local total = 0
  for f, v in pairs(p) do
    if string.sub(f, 1, 5) == 'back:' or string.sub(f, 1, 5) == 'lost:' then
      total = total + tonumber(v)
    end
  end
  if total > paid then total = paid end
  local delta = total - tonumber(p.counted or '0')
  if delta <= 0 then return 'unchanged' end
  redis.call('HSET', pkey, 'counted', total)
  local when = p.back_when
  contribute(mode, s, skey, when, 'refunded:' .. p.currency, delta)
  if not s.refunded then contribute(mode, s, skey, when, 'refunds', 1) end
  s.refunded = tostring(tonumber(s.refunded or '0') + delta)
  redis.call('HSET', skey, 'refunded', s.refunded)
  return 'counted'
end

-- A payment of the session (its own, or a renewal's) that refunds and
-- disputes may name; what came for it before is settled now.
local function link_payment(mode, sid, s, skey, payment, amount, currency)
  if payment == '' then return end
  local pkey = KEY.payment(mode, payment)
  redis.call('HSET', pkey, 'session', sid, 'paid', amount, 'currency', currency)
  redis.call('EXPIRE', pkey, CFG.retention)
  settle_back(mode, s, skey, pkey)
end

-- A renewal invoice counted once for its session, on the invoice's day.
local function count_renewal(mode, sid, s, skey, invoice, r)
  if s['renewal:' .. invoice] then return 'unchanged' end
  if s.status ~= 'paid' then return 'pending' end
  redis.call('HSET', skey, 'renewal:' .. invoice, r.when)
  contribute(mode, s, skey, r.when, 'renewals', 1)
  contribute(mode, s, skey, r.when, 'revenue:' .. r.currency, r.amount)
  link_payment(mode, sid, s, skey, r.payment, r.amount, r.currency)
  return 'counted'
end

-- Sessions with a verified event are kept SESSION_RETENTION_DAYS; sessions
-- that only landed, UNCONFIRMED_DAYS, in an index of their own.
local function touch_session(mode, sid, skey, s, first_seen_ms)
  if s.status or s.abandoned then
    redis.call('EXPIRE', skey, CFG.retention)
    redis.call('ZREM', KEY.sessions_landed(mode), sid)
    -- LT: the index keeps the session's earliest sighting.
    redis.call('ZADD', KEY.sessions(mode), 'LT', first_seen_ms, sid)
  else
    redis.call('EXPIRE', skey, CFG.unconfirmed)
    redis.call('ZADD', KEY.sessions_landed(mode), 'LT', first_seen_ms, sid)
  end
end

local function finish()
  for mode in pairs(TOUCHED) do
    local now = CFG.now_ms
    redis.call('ZREMRANGEBYSCORE', KEY.sessions(mode), '-inf',
      '(' .. (now - CFG.retention * 1000))
    for _, index in ipairs({KEY.sessions_landed(mode), KEY.unconfirmed(mode)}) do
      redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (now - CFG.unconfirmed * 1000))
      redis.call('EXPIRE', index, CFG.unconfirmed)
    end
    redis.call('INCR', KEY.version(mode))
    for day in pairs(CHANGED_DAYS[mode]) do
      redis.call('HINCRBY', KEY.day_versions(mode), day, 1)
    end
    CHANGED_DAYS[mode] = {}
  end
  TOUCHED = {}
end
