-- Shared by every script (store.py prepends keys.py's KEY table). Two
-- sides, each in a hash slot of its own on a cluster (keys.py):
--
-- * the session side, in a session shard (`{live:07}`), decides what a
--   landing or an event changes for its session and says what that changes
--   in the counters as a list of ops (OPS): confirm, bump, minute, landing,
--   visit, vouch;
-- * the counter side, in the mode's slot (`{live}`), applies ops.
--
-- On a single node a script does both in one call (CFG.inline). On a
-- cluster the session side writes its ops to its shard's outbox under a
-- transition id (settle()), and the store applies them to the counters
-- with apply.lua, which remembers the ids it applied: a retry, or the
-- drainer finding an entry a crash left, never applies twice (SPEC §7).
--
-- Two rules hold the numbers together:
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
-- Set by each script from its ARGV: now_ms, retention (s), unconfirmed (s),
-- inline (apply ops here: a single node), limit (landings a client may add
-- a minute, 0: none).
local CFG = {inline = true, limit = 0}
local HOURS_KEPT = 30 * 86400
local MINUTES_KEPT = 3 * 3600

-- On a cluster every key a call touches is one it declared in KEYS (SPEC
-- §7, and Redis's scripting contract). The store declares what it can tell
-- from the call's arguments (keys.py); what only the data can tell (a
-- renamed campaign's name, an unconfirmed campaign's earlier days, a held
-- landing's campaign, a payment's session) each script checks before it
-- writes anything, and when some key is missing it answers the error
-- `KEYS {"keys": [...], "names": {...}, "days": {...}}` and writes
-- nothing: the store calls again with those keys declared too, and
-- remembers the names and days for the campaigns' next calls. Every command
-- goes through call(), which refuses an undeclared key. On a single node
-- (one slot, and a call applies its counters with its session's) the store
-- cannot know a session's campaign before the call, and nothing is checked.
local DECLARED = nil
local MISSING, MISSING_SEEN = {}, {}

-- `place`, from the store: node (a single node: a call decides and applies
-- its counter changes), shard (a cluster's session shard: decides, keeps
-- them in its outbox), counters (a cluster's counter slot: decides and
-- applies: visitors, a marketer's changes) or outbox (the counter slot:
-- applies outbox entries, apply.lua).
local function declare(place)
  CFG.inline = place == 'node' or place == 'counters'
  if place == 'node' then return end
  DECLARED = {}
  for _, key in ipairs(KEYS) do DECLARED[key] = true end
end

local function call(command, key, ...)
  if DECLARED and not DECLARED[key] then
    error('undeclared key ' .. key)
  end
  return redis.call(command, key, ...)
end

-- Whether a key may be touched; if not, it is remembered as missing.
local function known(key)
  if not DECLARED or DECLARED[key] then return true end
  if not MISSING_SEEN[key] then
    MISSING_SEEN[key] = true
    MISSING[#MISSING + 1] = key
  end
  return false
end

-- What the checks learnt, for the store to declare next time: the names
-- campaigns resolved to (given → name, a rename), and the days of
-- unconfirmed campaigns (name → days), whose every day they touch.
local NAMES, DAYS = {}, {}

-- Ends a script's checks, before its first write.
local function all_known()
  if #MISSING > 0 then
    error({err = 'KEYS ' .. cjson.encode({keys = MISSING, names = NAMES, days = DAYS})})
  end
end

local function split_when(when)
  local day, hour = string.match(when, '^([^@]+)@?(.*)$')
  return day, hour
end

-- A session (or any id)'s shard, as keys.shard_of computes it.
local function shard_of(mode, id)
  local h = 5381
  for i = 1, #id do h = (h * 33 + string.byte(id, i)) % 4294967296 end
  return string.format('%s:%02d', mode, h % SHARDS)
end

local function hgetall(key)
  local flat = call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- HINCRBY that leaves no zero behind, so hashes hold only what counts.
local function hincr(key, field, by)
  if by == 0 then return end
  if call('HINCRBY', key, field, by) == 0 then
    call('HDEL', key, field)
  end
end

-- Days whose scoreboard counters this script changed, and modes it changed:
-- finish() bumps their versions, so readers can keep unchanged days' sums.
local CHANGED_DAYS = {live = {}, test = {}}
local TOUCHED = {}
-- TTLs that finish_counters() sets once per call, however often the call
-- wrote the keys (a batch of landings writes the same keys hundreds of
-- times): the unconfirmed campaigns bumped, and keys to `EXPIRE … NX`.
local UNCONFIRMED_BUMPED = {live = {}, test = {}}
local EXPIRE_NX = {}

-- A renamed campaign's numbers live under its new name (rename_campaign).
local function resolve(mode, campaign)
  local to = call('HGET', KEY.aliases(mode), campaign)
  if to then return to end
  return campaign
end

local function is_confirmed(mode, campaign)
  return call('SISMEMBER', KEY.confirmed(mode), campaign) == 1
end

-- The days a campaign has numbers on.
local function days_of(mode, campaign)
  local seen, out = {}, {}
  for _, f in ipairs(call('HKEYS', KEY.campaign_daily(mode, campaign))) do
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

-- An unconfirmed campaign's keys all expire together, UNCONFIRMED_DAYS
-- from now (its hourly keys at most HOURS_KEPT).
local function expire_unconfirmed(mode, campaign)
  local own, hours = campaign_keys(mode, campaign)
  for _, key in ipairs(own) do call('EXPIRE', key, CFG.unconfirmed) end
  for _, key in ipairs(hours) do
    call('EXPIRE', key, math.min(CFG.unconfirmed, HOURS_KEPT))
  end
end

-- A campaign's hourly counters into (or, sign -1, out of) the mode's.
local function hours_to_mode(mode, campaign, sign)
  for _, day in ipairs(days_of(mode, campaign)) do
    local into = KEY.hours(mode, day)
    for f, v in pairs(hgetall(KEY.campaign_hours(mode, campaign, day))) do
      hincr(into, f, sign * tonumber(v))
    end
    call('EXPIRE', into, HOURS_KEPT, 'NX')
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
  if call('SADD', KEY.confirmed(mode), campaign) == 0 then return false end
  if call('ZREM', KEY.unconfirmed(mode), campaign) == 1 then
    to_scoreboards(mode, campaign, hgetall(KEY.campaign_daily(mode, campaign)), 1)
    hours_to_mode(mode, campaign, 1)
    local own, hours = campaign_keys(mode, campaign)
    for _, key in ipairs(own) do call('PERSIST', key) end
    for _, key in ipairs(hours) do call('EXPIRE', key, HOURS_KEPT) end
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
      EXPIRE_NX[hours] = HOURS_KEPT
      hincr(KEY.hours(mode, day), hour .. '|' .. metric, by)
      EXPIRE_NX[KEY.hours(mode, day)] = HOURS_KEPT
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
  elseif not UNCONFIRMED_BUMPED[mode][campaign] then
    -- Unconfirmed: the whole campaign expires together, UNCONFIRMED_DAYS
    -- after this, its latest landing, unless something confirms it first
    -- (finish_counters() sets the TTLs; the score is the same all call long).
    UNCONFIRMED_BUMPED[mode][campaign] = true
    call('ZADD', KEY.unconfirmed(mode), CFG.now_ms, campaign)
  end
end

-- The last minutes, for every campaign of a mode together: what a launch
-- looks like right now. Only new facts, never moves.
local function per_minute(mode, at_ms, metric, by)
  local minute = math.floor(at_ms / 60000) * 60
  local key = KEY.minutes(mode, minute - minute % 3600)
  hincr(key, minute .. '|' .. metric, by)
  EXPIRE_NX[key] = MINUTES_KEPT
end

-- A landing under the per-client limit counts; over it, a session's landing
-- is held back until Stripe vouches for the session (vouch), a visitor's is
-- dropped. A landing that joins a payment Stripe already confirmed is never
-- limited (customers behind one NAT share an address): `limitable` false.
-- Returns counted or limited; the caller bumps what counted.
local function admit(mode, campaign, dims, when, ts, client, limitable, sid)
  if limitable and CFG.limit > 0 and client then
    local rkey = KEY.ratelimit(mode, client, math.floor(ts / 60000))
    local n = call('INCR', rkey)
    if n == 1 then call('EXPIRE', rkey, 120) end
    if n > CFG.limit and not (sid and call('EXISTS', KEY.vouched(mode, sid)) == 1) then
      if sid then
        call('SET', KEY.held(mode, sid), cjson.encode({campaign, dims, when}),
          'EX', CFG.unconfirmed)
      end
      return 'limited'
    end
  end
  return 'counted'
end

-- A session-less landing: once per visitor digest in 30 minutes. The
-- digest's salt rotates; near a rotation the landing also carries the
-- previous salt's digest, so the 30 minutes hold across it.
local VISIT_WINDOW_MS = 30 * 60 * 1000

local function seen_within(vkey, ts)
  local prev = tonumber(call('GET', vkey) or '')
  return prev and math.abs(ts - prev) < VISIT_WINDOW_MS
end

local function admit_visit(mode, campaign, dims, when, ts, client, visitor, previous)
  local vkey = KEY.visitor(mode, visitor)
  if seen_within(vkey, ts) or (previous and seen_within(KEY.visitor(mode, previous), ts)) then
    return 'duplicate'
  end
  local word = admit(mode, campaign, dims, when, ts, client, true, false)
  if word == 'counted' then
    local ttl = math.max(math.floor((ts + VISIT_WINDOW_MS - CFG.now_ms) / 1000), 60)
    call('SET', vkey, ts, 'EX', ttl)
  end
  return word
end

-- Stripe vouched for a session: its held-back landing counts now, in its
-- own campaign, on the day it arrived.
local VOUCHED_KEPT = 86400

local function vouch(mode, sid)
  local key = KEY.held(mode, sid)
  local raw = call('GET', key)
  if not raw then
    -- On a cluster the landing may be applied after this (its shard's
    -- outbox drained late): it will count, not wait. (A single node
    -- applies each call's ops at once, in order.)
    if not CFG.inline then
      call('SET', KEY.vouched(mode, sid), '1', 'EX', VOUCHED_KEPT)
    end
    return
  end
  call('DEL', key)
  local held = cjson.decode(raw)
  local campaign = resolve(mode, held[1])
  confirm(mode, campaign)
  bump(mode, campaign, held[2], held[3], 'landings', 1)
end

-- Checks (known) the keys of campaigns on every day any of them has
-- numbers on: what confirming, renaming or deleting one touches.
local function check_days(mode, campaigns)
  local days = {}
  for _, campaign in ipairs(campaigns) do
    known(KEY.campaign(mode, campaign))
    if known(KEY.campaign_daily(mode, campaign)) then
      DAYS[campaign] = days_of(mode, campaign)
      for _, day in ipairs(DAYS[campaign]) do days[day] = true end
    end
  end
  for day in pairs(days) do
    for _, campaign in ipairs(campaigns) do
      for _, key in ipairs(KEY.campaign_on(mode, campaign, day)) do known(key) end
    end
  end
end

-- Checks (known) every key applying `ops` may touch, reading only what
-- decides which: aliases, which campaigns are confirmed, an unconfirmed
-- campaign's days, held landings. Mirrors bump, confirm, per_minute, admit,
-- admit_visit, vouch and finish_counters; keys.py's op_keys guesses the
-- same from the ops alone. Changes nothing.
local function check_ops(mode, ops)
  -- What decides the rest is read from these: without them, nothing more.
  local ready = true
  for _, key in ipairs(KEY.mode_keys(mode)) do ready = known(key) and ready end
  if not ready then return end
  local whole_done = {}
  -- An unconfirmed campaign: confirming it, or a landing's TTLs, touch
  -- every day it has.
  local function whole(campaign)
    if whole_done[campaign] or is_confirmed(mode, campaign) then return end
    whole_done[campaign] = true
    check_days(mode, {campaign})
  end
  local function named(given)
    local campaign = resolve(mode, given)
    NAMES[given] = campaign
    return campaign
  end
  local function at(given, when)
    local campaign = named(given)
    for _, key in ipairs(KEY.campaign_on(mode, campaign, split_when(when))) do
      known(key)
    end
    whole(campaign)
  end
  local function minute_of(at_ms)
    local minute = math.floor(at_ms / 60000) * 60
    known(KEY.minutes(mode, minute - minute % 3600))
  end
  local function limited(client, ts)
    if CFG.limit > 0 and client then
      known(KEY.ratelimit(mode, client, math.floor(ts / 60000)))
      return true
    end
    return false
  end
  for _, op in ipairs(ops) do
    local kind = op[1]
    if kind == 'landing' then
      at(op[2], op[4])
      minute_of(op[5])
      if op[7] and limited(op[6], op[5]) and op[8] then
        known(KEY.vouched(mode, op[8]))
        known(KEY.held(mode, op[8]))
      end
    elseif kind == 'visit' then
      at(op[2], op[4])
      minute_of(op[5])
      known(KEY.visitor(mode, op[7]))
      if op[8] then known(KEY.visitor(mode, op[8])) end
      limited(op[6], op[5])
    elseif kind == 'bump' then
      at(op[2], op[4])
    elseif kind == 'confirm' then
      whole(named(op[2]))
    elseif kind == 'minute' then
      minute_of(op[2])
    elseif kind == 'vouch' then
      local key = KEY.held(mode, op[2])
      known(KEY.vouched(mode, op[2]))
      if known(key) then
        local raw = call('GET', key)
        if raw then
          local held = cjson.decode(raw)
          at(held[1], held[3])
        end
      end
    end
  end
end

-- Apply a session side's ops to the mode's counters, in order; the words
-- of its landing and visit ops (counted, limited, duplicate), in order.
-- Landings that count are added up per campaign, codes and hour (and per
-- minute) and each sum is bumped once, before the next op of another kind:
-- a batch is mostly a few campaigns.
local function apply_ops(mode, ops)
  local words, names = {}, {}
  -- Aliases change only when a marketer renames: read once per call.
  local function named(campaign)
    local name = names[campaign]
    if not name then
      name = resolve(mode, campaign)
      names[campaign] = name
    end
    return name
  end
  local sums, minutes = {}, {}
  local function add_up(campaign, dims, when, ts)
    local at = table.concat({campaign, dims.source, dims.medium, dims.content,
      dims.term, when}, '\0')
    if not sums[at] then
      sums[at] = {campaign = campaign, dims = dims, when = when, n = 0}
      sums[#sums + 1] = sums[at]
    end
    sums[at].n = sums[at].n + 1
    local minute = math.floor(ts / 60000)
    if not minutes[minute] then
      minutes[minute] = {ts = ts, n = 0}
      minutes[#minutes + 1] = minutes[minute]
    end
    minutes[minute].n = minutes[minute].n + 1
  end
  local function bump_sums()
    for _, sum in ipairs(sums) do
      bump(mode, sum.campaign, sum.dims, sum.when, 'landings', sum.n)
    end
    for _, m in ipairs(minutes) do per_minute(mode, m.ts, 'landings', m.n) end
    sums, minutes = {}, {}
  end
  for _, op in ipairs(ops) do
    local kind = op[1]
    if kind == 'landing' or kind == 'visit' then
      local campaign = named(op[2])
      local word
      if kind == 'landing' then
        word = admit(mode, campaign, op[3], op[4], op[5], op[6], op[7], op[8])
      else
        word = admit_visit(mode, campaign, op[3], op[4], op[5], op[6], op[7], op[8])
      end
      if word == 'counted' then add_up(campaign, op[3], op[4], op[5]) end
      words[#words + 1] = word
    else
      bump_sums()
      if kind == 'bump' then
        bump(mode, named(op[2]), op[3], op[4], op[5], op[6])
      elseif kind == 'confirm' then
        confirm(mode, named(op[2]))
      elseif kind == 'minute' then
        per_minute(mode, op[2], op[3], op[4])
      elseif kind == 'vouch' then
        vouch(mode, op[2])
      end
    end
  end
  bump_sums()
  return words
end

local function finish_counters()
  for mode, campaigns in pairs(UNCONFIRMED_BUMPED) do
    for campaign in pairs(campaigns) do
      if not is_confirmed(mode, campaign) then  -- else confirm() kept them
        expire_unconfirmed(mode, campaign)
      end
    end
    UNCONFIRMED_BUMPED[mode] = {}
  end
  for key, seconds in pairs(EXPIRE_NX) do call('EXPIRE', key, seconds, 'NX') end
  EXPIRE_NX = {}
  for mode in pairs(TOUCHED) do
    local index = KEY.unconfirmed(mode)
    call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (CFG.now_ms - CFG.unconfirmed * 1000))
    call('EXPIRE', index, CFG.unconfirmed)
    call('INCR', KEY.version(mode))
    for day in pairs(CHANGED_DAYS[mode]) do
      call('HINCRBY', KEY.day_versions(mode), day, 1)
    end
    CHANGED_DAYS[mode] = {}
  end
  TOUCHED = {}
end

-- ---------------------------------------------------------------------------
-- The session side: never touches a counter key, only says what changes.

local OPS = {}
local SHARDS_TOUCHED = {}

local function emit(op)
  OPS[#OPS + 1] = op
end

-- A session's campaign: its landing's, else its link token's, else
-- (unattributed), as named then (the counters resolve renames); and the
-- breakdown values that go with it.
local function campaign_of(s)
  return s.campaign or s.token_campaign or UNATTRIBUTED
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
local function contribute(s, skey, when, metric, by)
  if by == 0 then return end
  local campaign = campaign_of(s)
  emit({'confirm', campaign})
  emit({'bump', campaign, dims_of(s), when, metric, by})
  local entry = 'l:' .. when .. '|' .. metric
  hincr(skey, entry, by)
  -- The table stays what the hash holds: a move later in this call replays it.
  local n = (tonumber(s[entry]) or 0) + by
  if n == 0 then s[entry] = nil else s[entry] = tostring(n) end
end

-- Move everything a session counted to where its (changed) fields now put
-- it: `changes` are the session fields to set.
local function move(s, changes)
  local ledger = {}
  for f, v in pairs(s) do
    local entry = string.match(f, '^l:(.+)$')
    if entry then ledger[entry] = tonumber(v) end
  end
  local from, from_dims = campaign_of(s), dims_of(s)
  for k, v in pairs(changes) do s[k] = v end
  local to, to_dims = campaign_of(s), dims_of(s)
  if next(ledger) then emit({'confirm', to}) end
  for entry, n in pairs(ledger) do
    local when, metric = string.match(entry, '^([^|]+)|(.+)$')
    emit({'bump', from, from_dims, when, metric, -n})
    emit({'bump', to, to_dims, when, metric, n})
  end
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

local function adopt_token(s, skey, link)
  if not link or s.token_campaign then return end
  if not link.campaign then return end
  local changes, flat = {}, {}
  for _, f in ipairs(TOKEN_FIELDS) do
    changes['token_' .. f] = link[f] or NONE
    flat[#flat + 1] = 'token_' .. f
    flat[#flat + 1] = changes['token_' .. f]
  end
  move(s, changes)
  call('HSET', skey, unpack(flat))
end

-- The money that went back from one payment (refunds, lost disputes), up to
-- what was paid, counted once: the payment's record keeps the running
-- largest `amount_refunded` per charge (`back:{charge}`) and each lost
-- dispute (`lost:{dispute}`); `counted` is what the counters already hold.
local function settle_back(s, skey, pkey)
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
  call('HSET', pkey, 'counted', total)
  local when = p.back_when
  contribute(s, skey, when, 'refunded:' .. p.currency, delta)
  if not s.refunded then contribute(s, skey, when, 'refunds', 1) end
  s.refunded = tostring(tonumber(s.refunded or '0') + delta)
  call('HSET', skey, 'refunded', s.refunded)
  return 'counted'
end

-- A payment of the session (its own, or a renewal's) that refunds and
-- disputes may name; what came for it before is settled now.
local function link_payment(shard, sid, s, skey, payment, amount, currency)
  if payment == '' then return end
  local pkey = KEY.payment(shard, payment)
  call('HSET', pkey, 'session', sid, 'paid', amount, 'currency', currency)
  call('EXPIRE', pkey, CFG.retention)
  settle_back(s, skey, pkey)
end

-- A renewal invoice counted once for its session, on the invoice's day.
local function count_renewal(shard, sid, s, skey, invoice, r)
  if s['renewal:' .. invoice] then return 'unchanged' end
  if s.status ~= 'paid' then return 'pending' end
  call('HSET', skey, 'renewal:' .. invoice, r.when)
  contribute(s, skey, r.when, 'renewals', 1)
  contribute(s, skey, r.when, 'revenue:' .. r.currency, r.amount)
  link_payment(shard, sid, s, skey, r.payment, r.amount, r.currency)
  return 'counted'
end

-- Sessions with a verified event are kept SESSION_RETENTION_DAYS; sessions
-- that only landed, UNCONFIRMED_DAYS, in an index of their own.
local function touch_session(shard, sid, skey, s, first_seen_ms)
  SHARDS_TOUCHED[shard] = true
  if s.status or s.abandoned then
    call('EXPIRE', skey, CFG.retention)
    call('ZREM', KEY.sessions_landed(shard), sid)
    -- LT: the index keeps the session's earliest sighting.
    call('ZADD', KEY.sessions(shard), 'LT', first_seen_ms, sid)
  else
    call('EXPIRE', skey, CFG.unconfirmed)
    call('ZADD', KEY.sessions_landed(shard), 'LT', first_seen_ms, sid)
  end
end

-- Ends every session-side script: trims the shards' indexes, then applies
-- the ops here (a single node) and returns the words of its landing and
-- visit ops; or, on a cluster, keeps them in the shard's outbox under a new
-- transition id and returns {id, entry} for the store to apply (apply.lua).
local function settle(mode, shard)
  local now = CFG.now_ms
  local ops = OPS
  OPS = {}
  if CFG.inline and DECLARED then
    -- A cluster's counter slot (visitors): nothing is written yet.
    check_ops(mode, ops)
    all_known()
  end
  for touched in pairs(SHARDS_TOUCHED) do
    call('ZREMRANGEBYSCORE', KEY.sessions(touched), '-inf',
      '(' .. (now - CFG.retention * 1000))
    local landed = KEY.sessions_landed(touched)
    call('ZREMRANGEBYSCORE', landed, '-inf', '(' .. (now - CFG.unconfirmed * 1000))
    call('EXPIRE', landed, CFG.unconfirmed)
  end
  SHARDS_TOUCHED = {}
  if CFG.inline then
    local words = apply_ops(mode, ops)
    finish_counters()
    return words
  end
  if #ops == 0 then return nil end
  -- The time too: a failover may lose the counter's last increments, and
  -- an id that came again would be taken for one already applied.
  local id = shard .. '#' .. CFG.now_ms .. '.' .. call('INCR', KEY.transitions(shard))
  local entry = cjson.encode({mode = mode, at = now, limit = CFG.limit, ops = ops})
  call('HSET', KEY.outbox(shard), id, entry)
  return {id, entry}
end
