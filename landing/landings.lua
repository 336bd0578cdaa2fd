-- Count a batch of landings from the journal, atomically and idempotently.
-- ARGV[1] now (ms), ARGV[2] session retention (s), ARGV[3] landings one
-- client may add per minute (0: no limit), ARGV[4] UNCONFIRMED_DAYS (s),
-- ARGV[5] REPORT_TIMEZONE's UTC offset (s) for the batch's hours, ARGV[6]
-- the place (common.lua's declare): node (a single node), shard (a
-- cluster: the batch's landings with a session, all of one session shard;
-- returns the outbox entry) or counters (a cluster: the landings without a
-- session, visitors, in the mode's slot), ARGV[7..] one JSON landing each:
-- {ts (ms), day, mode, sid? or visitor (and visitor_prev near a salt's
-- rotation), client?, campaign?, source?, ...}.
-- KEYS: on a single node a key of the call's slot (the mode's version); on
-- a cluster every key the call touches: the shard's keys and each landing's
-- session, or the mode's version and what the visitors' ops touch.
-- Returns one word per landing: counted, duplicate or limited; on a cluster
-- {words, id, entry}, where "" words are those of the entry's ops, in order.
CFG.now_ms = tonumber(ARGV[1])
CFG.retention = tonumber(ARGV[2])
CFG.limit = tonumber(ARGV[3])
CFG.unconfirmed = tonumber(ARGV[4])
local offset = tonumber(ARGV[5])
declare(ARGV[6])
local results = {}
local mode, shard
local entries = {}
for i = 7, #ARGV do
  local e = cjson.decode(ARGV[i])
  entries[#entries + 1] = e
  if type(e.sid) == 'string' then known(KEY.session(shard_of(e.mode, e.sid), e.sid)) end
end
all_known()

for _, e in ipairs(entries) do
  local seconds = math.floor(e.ts / 1000)
  local when = e.day .. '@' .. (seconds - (seconds + offset) % 3600)
  mode = e.mode
  local client = type(e.client) == 'string' and e.client or false
  local landing = {}
  for _, d in ipairs(CODES) do
    landing[d] = type(e[d]) == 'string' and e[d] or NONE
  end
  local campaign = type(e.campaign) == 'string' and e.campaign or NONE
  if type(e.sid) == 'string' then
    shard = shard_of(mode, e.sid)
    local skey = KEY.session(shard, e.sid)
    local s = hgetall(skey)
    if s.landed_at then
      results[#results + 1] = 'duplicate'
    else
      results[#results + 1] = ''
      -- A landing that joins a payment Stripe already confirmed is no
      -- inflation: it is never limited.
      emit({'landing', campaign, landing, when, e.ts, client, not s.status, e.sid})
      local fields = {landed_at = tostring(e.ts), landed_day = e.day, landed_when = when,
        campaign = campaign}
      for k, v in pairs(landing) do fields[k] = v end
      if s.status then
        -- The payment came first: everything it counted moves from where it
        -- was ((unattributed), or its link's campaign) to this landing's
        -- campaign, on the days it was counted. The redirect wins.
        move(s, fields)
      end
      local flat = {}
      for k, v in pairs(fields) do
        flat[#flat + 1] = k
        flat[#flat + 1] = v
      end
      call('HSET', skey, unpack(flat))
      touch_session(shard, e.sid, skey, s, e.ts)
    end
  else
    results[#results + 1] = ''
    local previous = type(e.visitor_prev) == 'string' and e.visitor_prev or false
    emit({'visit', campaign, landing, when, e.ts, client, e.visitor, previous})
  end
end

local out = settle(mode, shard)
if CFG.inline then
  -- The words of the landing and visit ops, in order, fill the blanks.
  local n = 0
  for i, word in ipairs(results) do
    if word == '' then
      n = n + 1
      results[i] = out[n]
    end
  end
  return results
end
if out then return {results, out[1], out[2]} end
return {results}
