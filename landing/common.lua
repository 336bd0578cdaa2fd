-- Shared by every script (store.py prepends it after keys.py's KEY table):
-- how one counted thing lands in the counters. Key names come from KEY.
local NONE = '(none)'
local UNATTRIBUTED = '(unattributed)'
local DIMS = {'source', 'medium', 'content', 'term', 'payment_link'}
local METRIC = {paid = 'conversions', pending = 'pending', failed = 'failed'}
local RANK = {pending = 1, paid = 2, failed = 2}

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

-- Add `by` of `metric` for a campaign on a day, everywhere it is reported:
-- the all-time and daily scoreboards, the overall and the campaign's daily
-- series, and the campaign's breakdowns (all time and per day).
-- Days whose counters this script changed, per mode: finish() bumps their
-- versions, so readers can keep unchanged days' sums (store.py).
local CHANGED_DAYS = {live = {}, test = {}}

local function bump(mode, campaign, dims, day, metric, by)
  local f = campaign .. '|' .. metric
  CHANGED_DAYS[mode][day] = true
  hincr(KEY.board(mode), f, by)
  hincr(KEY.board_day(mode, day), f, by)
  hincr(KEY.daily(mode), day .. '|' .. metric, by)
  hincr(KEY.campaign_daily(mode, campaign), day .. '|' .. metric, by)
  local all_time, that_day = KEY.campaign(mode, campaign), KEY.campaign_day(mode, campaign, day)
  for _, d in ipairs(DIMS) do
    local v = dims[d]
    if v then
      local bf = d .. '|' .. v .. '|' .. metric
      hincr(all_time, bf, by)
      hincr(that_day, bf, by)
    end
  end
end

-- A session's outcome in the counters: one of conversions, pending or
-- failed, and its revenue once paid.
local function count_outcome(mode, campaign, dims, s, by)
  local day = s.outcome_day
  bump(mode, campaign, dims, day, METRIC[s.status], by)
  local amount = tonumber(s.amount_total or '0') or 0
  if s.status == 'paid' and amount > 0 and s.currency and s.currency ~= '' then
    bump(mode, campaign, dims, day, 'revenue:' .. s.currency, by * amount)
  end
end

-- The breakdown values of a session: its landing's codes, else (none).
local function dims_of(s)
  return {
    source = s.source or NONE, medium = s.medium or NONE,
    content = s.content or NONE, term = s.term or NONE,
    payment_link = s.payment_link,
  }
end

local function touch_session(mode, sid, skey, first_seen_ms, retention)
  redis.call('EXPIRE', skey, retention)
  -- LT: the index keeps the session's earliest sighting.
  redis.call('ZADD', KEY.sessions(mode), 'LT', first_seen_ms, sid)
end

local function finish(mode, now_ms, retention)
  redis.call('ZREMRANGEBYSCORE', KEY.sessions(mode), '-inf',
    '(' .. (now_ms - retention * 1000))
  redis.call('INCR', KEY.version(mode))
  for day in pairs(CHANGED_DAYS[mode]) do
    redis.call('HINCRBY', KEY.day_versions(mode), day, 1)
  end
  CHANGED_DAYS[mode] = {}
end
