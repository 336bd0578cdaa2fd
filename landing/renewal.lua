-- A subscription's invoice: a paid renewal (`subscription_cycle`), the
-- first invoice (the session's own payment: only its PaymentIntent or charge
-- is kept, for refunds), or the end of the subscription.
-- ARGV: mode, what ("renewal", "first" or "ended"), subscription, invoice,
-- amount_paid, currency, payment (PaymentIntent or charge, may be ""), when,
-- now (ms), session retention (s), UNCONFIRMED_DAYS (s), the place (node
-- or shard: common.lua's declare), then the session shards to look in (as
-- refund.lua).
-- KEYS: on a single node a key of the call's slot (the first shard's
-- outbox); on a cluster the shard's keys, the subscription's record, and
-- the session's key and the payment's record when the store found the
-- session (the script asks for them otherwise).
-- Returns counted, unchanged or pending (its session is not known yet: every
-- shard looked in keeps it until its session comes, for retention); on a
-- cluster {word, id, entry} when it changed counters.
local mode, what, subscription, invoice = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local r = {amount = tonumber(ARGV[5]), currency = ARGV[6], payment = ARGV[7],
  when = ARGV[8]}
CFG.now_ms, CFG.retention = tonumber(ARGV[9]), tonumber(ARGV[10])
CFG.unconfirmed = tonumber(ARGV[11])
declare(ARGV[12])
local shards = {}
for i = 13, #ARGV do shards[#shards + 1] = ARGV[i] end

local home, sid
for _, shard in ipairs(shards) do
  sid = call('HGET', KEY.subscription(shard, subscription), 'session')
  if sid then
    home = shard
    break
  end
end

if what == 'ended' then
  -- Late events about it may still come; then it goes.
  for _, shard in ipairs(shards) do
    local subkey = KEY.subscription(shard, subscription)
    if call('EXISTS', subkey) == 1 then call('EXPIRE', subkey, CFG.retention) end
  end
  return 'unchanged'
end
if not home then
  if what ~= 'renewal' then return 'unchanged' end
  for _, shard in ipairs(shards) do
    local subkey = KEY.subscription(shard, subscription)
    call('HSET', subkey, 'pending:' .. invoice, cjson.encode(r))
    call('EXPIRE', subkey, CFG.retention)
  end
  return 'pending'
end
local skey = KEY.session(home, sid)
known(skey)
if r.payment ~= '' then known(KEY.payment(home, r.payment)) end
all_known()
local s = hgetall(skey)
local result
if what == 'first' then
  if r.payment == '' or s.status ~= 'paid' then return 'unchanged' end
  link_payment(home, sid, s, skey, r.payment, s.amount_total or r.amount,
    s.currency or r.currency)
  result = 'unchanged'
else
  result = count_renewal(home, sid, s, skey, invoice, r)
  if result == 'pending' then
    call('HSET', KEY.subscription(home, subscription), 'pending:' .. invoice,
      cjson.encode(r))
  end
end
local out = settle(mode, home)
if CFG.inline or not out then return result end
return {result, out[1], out[2]}
