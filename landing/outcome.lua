-- Apply one verified Checkout Session event to its session, atomically.
-- ARGV: mode, session id, status (pending|paid|failed), amount_total,
-- currency, payment_link, client_reference_id, when (`{day}@{hour}`), event
-- time (ms), now (ms),
-- session retention (s), UNCONFIRMED_DAYS (s), payment_intent, subscription,
-- the client_reference_id's link token record as JSON ("" when it is none),
-- the place: node or shard (common.lua's declare).
-- KEYS: the session's key (the call's slot: the session's shard); on a
-- cluster also the shard's keys, and the payment and subscription the event
-- names (the script asks for those its session names instead).
-- Returns: counted (new outcome), changed (pending became paid or failed) or
-- unchanged (a duplicate, or news older than what we hold); on a cluster
-- {word, id, entry} when it changed counters (settle()).
local mode, sid, status = ARGV[1], ARGV[2], ARGV[3]
local amount, currency, payment_link = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local reference, when, at_ms = ARGV[7], ARGV[8], tonumber(ARGV[9])
local day = split_when(when)
CFG.now_ms, CFG.retention = tonumber(ARGV[10]), tonumber(ARGV[11])
CFG.unconfirmed = tonumber(ARGV[12])
local payment_intent, subscription = ARGV[13], ARGV[14]
local token = token_of(ARGV[15])
declare(ARGV[16])

local shard = shard_of(mode, sid)
local skey = KEY.session(shard, sid)
local s = hgetall(skey)
if s.status and RANK[s.status] >= RANK[status] then return 'unchanged' end
if DECLARED and status == 'paid' then
  -- The payment and subscription the session names, and the payments of
  -- renewals that wait for it there: link_payment below.
  local pi = payment_intent ~= '' and payment_intent or s.payment_intent
  if pi then known(KEY.payment(shard, pi)) end
  local sub = subscription ~= '' and subscription or s.subscription
  local subkey = sub and KEY.subscription(shard, sub)
  if subkey and known(subkey) then
    for f, v in pairs(hgetall(subkey)) do
      local r = string.match(f, '^pending:') and cjson.decode(v)
      if r and r.payment ~= '' then known(KEY.payment(shard, r.payment)) end
    end
  end
  all_known()
end

local result = 'counted'
local was = s.status
s.payment_link = payment_link
if reference ~= '' then s.client_reference_id = reference end
if amount and currency ~= '' then
  s.amount_total, s.currency = tostring(amount), currency
end
if payment_intent ~= '' then s.payment_intent = payment_intent end
adopt_token(s, skey, token)
if subscription ~= '' then s.subscription = subscription end
if was then
  contribute(s, skey, s.outcome_when or s.outcome_day, METRIC[was], -1)
  result = 'changed'
end
s.status, s.outcome_day, s.outcome_when = status, day, when
contribute(s, skey, when, METRIC[status], 1)
emit({'minute', at_ms, METRIC[status], 1})
if status == 'paid' and s.amount_total and s.currency then
  local revenue = 'revenue:' .. s.currency
  contribute(s, skey, when, revenue, tonumber(s.amount_total))
  contribute(s, skey, when, 'conversions:' .. s.currency, 1)
  emit({'minute', at_ms, revenue, tonumber(s.amount_total)})
end
-- A landing held back by the limit counts now that Stripe vouches for its
-- session (in its own campaign, on the day it arrived).
emit({'vouch', sid})

local fields = {'status', status, 'outcome_day', day, 'outcome_when', when,
  'payment_link', payment_link, status .. '_at', at_ms}
for _, f in ipairs({'amount_total', 'currency', 'client_reference_id',
    'payment_intent', 'subscription'}) do
  if s[f] then
    fields[#fields + 1] = f
    fields[#fields + 1] = s[f]
  end
end
call('HSET', skey, unpack(fields))
touch_session(shard, sid, skey, s, at_ms)

if status == 'paid' then
  -- Refunds and disputes may have come first (Stripe does not order
  -- events); they are settled now.
  link_payment(shard, sid, s, skey, s.payment_intent or '',
    s.amount_total or '0', s.currency or '')
  if s.subscription then
    local subkey = KEY.subscription(shard, s.subscription)
    call('HSET', subkey, 'session', sid)
    call('PERSIST', subkey)  -- kept while the subscription lives
    for f, v in pairs(hgetall(subkey)) do
      local invoice = string.match(f, '^pending:(.+)$')
      if invoice then
        count_renewal(shard, sid, s, skey, invoice, cjson.decode(v))
        call('HDEL', subkey, f)
      end
    end
  end
end
local out = settle(mode, shard)
if CFG.inline or not out then return result end
return {result, out[1], out[2]}
