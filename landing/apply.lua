-- Apply session shards' outbox entries to the mode's counters, each once
-- (a cluster only: on a single node each script applies its own ops).
-- ARGV: now (ms), session retention (s), UNCONFIRMED_DAYS (s), then pairs
-- of transition id and entry (JSON: mode, at, limit, ops), all of one mode.
-- KEYS: the mode's applied set (the call's slot: the mode's counters),
-- then every key the entries' ops touch (common.lua's check_ops).
-- Returns, per pair, the words of its landing ops as JSON, or "" when that
-- transition was applied before (a retry, or the drainer after a crash).
CFG.now_ms, CFG.retention = tonumber(ARGV[1]), tonumber(ARGV[2])
CFG.unconfirmed = tonumber(ARGV[3])
declare('outbox')
local out = {}
local applied
local entries = {}
for i = 4, #ARGV, 2 do
  local entry = cjson.decode(ARGV[i + 1])
  entries[#entries + 1] = {ARGV[i], entry}
  CFG.limit = tonumber(entry.limit) or 0
  known(KEY.applied(entry.mode))
  check_ops(entry.mode, entry.ops)
end
all_known()
-- Applied ids are kept by the server's clock, the same for every process:
-- one whose clock ran days ahead must not trim ids still to be seen again.
local time = redis.call('TIME')
local server_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for _, pair in ipairs(entries) do
  local id, entry = pair[1], pair[2]
  applied = KEY.applied(entry.mode)
  if call('ZADD', applied, 'NX', server_ms, id) == 1 then
    CFG.limit = tonumber(entry.limit) or 0
    out[#out + 1] = cjson.encode(apply_ops(entry.mode, entry.ops))
  else
    out[#out + 1] = ''
  end
end
if applied then
  call('ZREMRANGEBYSCORE', applied, '-inf', '(' .. (server_ms - APPLIED_KEPT * 1000))
end
finish_counters()
return out
