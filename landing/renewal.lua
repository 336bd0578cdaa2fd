-- A subscription's invoice: a paid renewal (`subscription_cycle`), the
-- first invoice (the session's own payment: only its PaymentIntent or charge
-- is kept, for refunds), or the end of the subscription.
-- ARGV: mode, what ("renewal", "first" or "ended"), subscription, invoice,
-- amount_paid, currency, payment (PaymentIntent or charge, may be ""), when,
-- now (ms), session retention (s), UNCONFIRMED_DAYS (s).
-- Returns counted, unchanged or pending (its session is not known yet).
-- KEYS[1]: the subscription's key (the call's hash slot: the mode's).
local mode, what, subscription, invoice = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local r = {amount = tonumber(ARGV[5]), currency = ARGV[6], payment = ARGV[7],
  when = ARGV[8]}
CFG.now_ms, CFG.retention = tonumber(ARGV[9]), tonumber(ARGV[10])
CFG.unconfirmed = tonumber(ARGV[11])

local subkey = KEY.subscription(mode, subscription)
if what == 'ended' then
  -- Late events about it may still come; then it goes.
  if redis.call('EXISTS', subkey) == 1 then redis.call('EXPIRE', subkey, CFG.retention) end
  return 'unchanged'
end
local sid = redis.call('HGET', subkey, 'session')
if not sid then
  if what == 'renewal' then
    redis.call('HSET', subkey, 'pending:' .. invoice, cjson.encode(r))
    redis.call('EXPIRE', subkey, CFG.retention)
    return 'pending'
  end
  return 'unchanged'
end
local skey = KEY.session(mode, sid)
local s = hgetall(skey)
local result
if what == 'first' then
  if r.payment == '' or s.status ~= 'paid' then return 'unchanged' end
  link_payment(mode, sid, s, skey, r.payment, s.amount_total or r.amount,
    s.currency or r.currency)
  result = 'unchanged'
else
  result = count_renewal(mode, sid, s, skey, invoice, r)
  if result == 'pending' then
    redis.call('HSET', subkey, 'pending:' .. invoice, cjson.encode(r))
  end
end
finish()
return result
