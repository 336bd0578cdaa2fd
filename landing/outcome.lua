-- Apply one verified event to its checkout session, atomically.
-- ARGV: mode, session id, status (pending|paid|failed), amount_total,
-- currency, payment_link, client_reference_id, day, event time (ms), now (ms),
-- session retention (s).
-- Returns: counted (new outcome), changed (pending became paid or failed) or
-- unchanged (a duplicate, or news older than what we hold).
local mode, sid, status = ARGV[1], ARGV[2], ARGV[3]
local amount, currency, payment_link = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local reference, day, at_ms = ARGV[7], ARGV[8], tonumber(ARGV[9])
local now_ms, retention = tonumber(ARGV[10]), tonumber(ARGV[11])

local skey = KEY.session(mode, sid)
local s = hgetall(skey)
-- Paid and failed are final; pending never overwrites them.
if s.status and RANK[s.status] >= RANK[status] then return 'unchanged' end

local campaign = s.campaign or UNATTRIBUTED
local result = 'counted'
if s.status then
  count_outcome(mode, campaign, dims_of(s), s, -1)
  result = 'changed'
end
s.status, s.outcome_day, s.payment_link = status, day, payment_link
if amount and currency ~= '' then
  s.amount_total, s.currency = tostring(amount), currency
end
count_outcome(mode, campaign, dims_of(s), s, 1)

redis.call('HSET', skey, 'status', status, 'outcome_day', day,
  'payment_link', payment_link, status .. '_at', at_ms)
if s.amount_total then
  redis.call('HSET', skey, 'amount_total', s.amount_total, 'currency', s.currency)
end
if reference ~= '' then redis.call('HSET', skey, 'client_reference_id', reference) end
touch_session(mode, sid, skey, at_ms, retention)
finish(mode, now_ms, retention)
return result
