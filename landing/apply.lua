-- Apply session shards' outbox entries to the mode's counters, each once
-- (a cluster only: on a single node each script applies its own ops).
-- ARGV: now (ms), session retention (s), UNCONFIRMED_DAYS (s), then pairs
-- of transition id and entry (JSON: mode, at, limit, ops), all of one mode.
-- KEYS[1]: the mode's applied set (the call's slot: the mode's counters).
-- Returns, per pair, the words of its landing ops as JSON, or "" when that
-- transition was applied before (a retry, or the drainer after a crash).
CFG.now_ms, CFG.retention = tonumber(ARGV[1]), tonumber(ARGV[2])
CFG.unconfirmed = tonumber(ARGV[3])
CFG.inline = false  -- a cluster: the ops came from an outbox
local out = {}
local applied
for i = 4, #ARGV, 2 do
  local id, entry = ARGV[i], cjson.decode(ARGV[i + 1])
  applied = KEY.applied(entry.mode)
  if redis.call('ZADD', applied, 'NX', CFG.now_ms, id) == 1 then
    CFG.limit = tonumber(entry.limit) or 0
    out[#out + 1] = cjson.encode(apply_ops(entry.mode, entry.ops))
  else
    out[#out + 1] = ''
  end
end
if applied then
  redis.call('ZREMRANGEBYSCORE', applied, '-inf', '(' .. (CFG.now_ms - APPLIED_KEPT * 1000))
end
finish_counters()
return out
