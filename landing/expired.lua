-- A Checkout Session that expired unpaid (`checkout.session.expired`): when
-- it was started from one of our tagged links, it counts as abandoned in the
-- link's campaign, once, on the event's day.
-- ARGV: mode, session id, payment_link, client_reference_id, when, event time
-- (ms), now (ms), session retention (s), UNCONFIRMED_DAYS (s), the
-- reference's link token record as JSON ("" when none), the place: node or shard (common.lua's declare).
-- KEYS: the session's key (the call's slot: the session's shard); on a
-- cluster also the shard's keys.
-- Returns counted, or unchanged (not a token of ours, or already counted);
-- on a cluster {word, id, entry} when it changed counters.
local mode, sid, payment_link, reference = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local when, at_ms = ARGV[5], tonumber(ARGV[6])
CFG.now_ms, CFG.retention = tonumber(ARGV[7]), tonumber(ARGV[8])
CFG.unconfirmed = tonumber(ARGV[9])
local token = token_of(ARGV[10])
declare(ARGV[11])

local shard = shard_of(mode, sid)
local skey = KEY.session(shard, sid)
local s = hgetall(skey)
if s.abandoned or s.status then return 'unchanged' end
adopt_token(s, skey, token)
if not s.token_campaign then return 'unchanged' end
s.payment_link, s.abandoned = payment_link, '1'
contribute(s, skey, when, 'abandoned', 1)
call('HSET', skey, 'abandoned', '1', 'payment_link', payment_link,
  'client_reference_id', reference, 'expired_at', at_ms)
touch_session(shard, sid, skey, s, at_ms)
local out = settle(mode, shard)
if CFG.inline or not out then return 'counted' end
return {'counted', out[1], out[2]}
