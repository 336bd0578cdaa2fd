-- Money back on one payment: a refund (`charge.refunded`, whose
-- amount_refunded is the charge's running total) or a lost dispute.
-- ARGV: mode, payment_intent, charge, what ("refund" or "dispute"), its id
-- (the charge, or the dispute), amount, when (`{day}@{hour}`), now (ms),
-- session retention (s),
-- UNCONFIRMED_DAYS (s).
-- Returns counted, unchanged, or pending (its payment is not counted (yet):
-- kept for SESSION_RETENTION_DAYS in case it is).
-- KEYS[1]: the payment's key (the call's hash slot: the mode's).
local mode, payment_intent, charge = ARGV[1], ARGV[2], ARGV[3]
local what, id, amount, when = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
CFG.now_ms, CFG.retention = tonumber(ARGV[8]), tonumber(ARGV[9])
CFG.unconfirmed = tonumber(ARGV[10])

-- The payment's record: by its PaymentIntent, else by the charge (a renewal
-- may be known by either).
local pkey = KEY.payment(mode, payment_intent ~= '' and payment_intent or charge)
if payment_intent ~= '' and redis.call('HEXISTS', pkey, 'session') == 0 then
  local by_charge = KEY.payment(mode, charge)
  if redis.call('HEXISTS', by_charge, 'session') == 1 then pkey = by_charge end
end

local field = (what == 'dispute' and 'lost:' or 'back:') .. id
local before = tonumber(redis.call('HGET', pkey, field) or '0')
-- The largest running total seen wins: an overtaken or repeated refund
-- event never counts twice, and a dispute is counted once.
if amount <= before then return 'unchanged' end
redis.call('HSET', pkey, field, amount, 'back_when', when)
local sid = redis.call('HGET', pkey, 'session')
if not sid then
  redis.call('EXPIRE', pkey, CFG.retention)
  return 'pending'
end
local skey = KEY.session(mode, sid)
local s = hgetall(skey)
local result = settle_back(mode, s, skey, pkey)
finish()
return result
