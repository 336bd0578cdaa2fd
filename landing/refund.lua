-- Money back on one payment: a refund (`charge.refunded`, whose
-- amount_refunded is the charge's running total) or a lost dispute.
-- ARGV: mode, payment_intent, charge, what ("refund" or "dispute"), its id
-- (the charge, or the dispute), amount, when (`{day}@{hour}`), now (ms),
-- session retention (s), UNCONFIRMED_DAYS (s), the place (node or shard:
-- common.lua's declare), then the session shards to look in (every shard
-- on a single node; on a cluster the one the store found the payment in,
-- or each shard in a call of its own).
-- KEYS: on a single node a key of the call's slot (the first shard's
-- outbox); on a cluster the shard's keys, the payment's records by
-- PaymentIntent and by charge, and its session's key when the store found
-- it (the script asks for it otherwise).
-- Returns counted, unchanged, or pending (its payment is not counted (yet):
-- every shard looked in keeps the news for SESSION_RETENTION_DAYS, and the
-- one whose session links the payment settles it then); on a cluster
-- {word, id, entry} when it changed counters.
local mode, payment_intent, charge = ARGV[1], ARGV[2], ARGV[3]
local what, id, amount, when = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
CFG.now_ms, CFG.retention = tonumber(ARGV[8]), tonumber(ARGV[9])
CFG.unconfirmed = tonumber(ARGV[10])
declare(ARGV[11])
local shards = {}
for i = 12, #ARGV do shards[#shards + 1] = ARGV[i] end

-- The payment's record in a shard: by its PaymentIntent, else by the charge
-- (a renewal may be known by either).
local function record_in(shard)
  local pkey = KEY.payment(shard, payment_intent ~= '' and payment_intent or charge)
  if payment_intent ~= '' and call('HEXISTS', pkey, 'session') == 0 then
    local by_charge = KEY.payment(shard, charge)
    if call('HEXISTS', by_charge, 'session') == 1 then pkey = by_charge end
  end
  return pkey
end

local field = (what == 'dispute' and 'lost:' or 'back:') .. id
-- The largest running total seen wins: an overtaken or repeated refund
-- event never counts twice, and a dispute is counted once.
local function news(pkey)
  local before = tonumber(call('HGET', pkey, field) or '0')
  if amount <= before then return false end
  call('HSET', pkey, field, amount, 'back_when', when)
  return true
end

local home
for _, shard in ipairs(shards) do
  if call('HEXISTS', record_in(shard), 'session') == 1 then
    home = shard
    break
  end
end
local result = 'unchanged'
if home then
  local pkey = record_in(home)
  local skey = KEY.session(home, call('HGET', pkey, 'session'))
  known(skey)
  all_known()
  if news(pkey) then result = settle_back(hgetall(skey), skey, pkey) end
else
  for _, shard in ipairs(shards) do
    local pkey = record_in(shard)
    if news(pkey) then
      call('EXPIRE', pkey, CFG.retention)
      result = 'pending'
    end
  end
end
local out = settle(mode, home)
if CFG.inline or not out then return result end
return {result, out[1], out[2]}
