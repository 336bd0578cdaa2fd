-- A marketer's changes to one campaign, atomically (`landing campaigns`).
-- ARGV: what (confirm|delete|rename), mode, campaign, new name (rename),
-- now (ms), session retention (s), UNCONFIRMED_DAYS (s), the place (node or
-- counters: common.lua's declare).
-- confirm → confirmed | already; delete → deleted | unknown | paid;
-- rename → renamed | unknown | same.
-- KEYS: the mode's confirmed set (the call's slot: the mode's counters);
-- on a cluster every key the change touches (the script asks for the
-- campaigns' days).
-- Only counters: sessions keep the names they had (they resolve on counting).
local what, mode, name, new = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
CFG.now_ms, CFG.retention = tonumber(ARGV[5]), tonumber(ARGV[6])
CFG.unconfirmed = tonumber(ARGV[7])
declare(ARGV[8])
for _, key in ipairs(KEY.mode_keys(mode)) do known(key) end
all_known()  -- what decides the rest is read from these
if what == 'confirm' then
  name = resolve(mode, name)
  check_days(mode, {name})
elseif what == 'rename' then
  check_days(mode, {name, new})
else
  check_days(mode, {name})
end
all_known()

local function exists(campaign)
  return is_confirmed(mode, campaign)
    or call('EXISTS', KEY.campaign_daily(mode, campaign)) == 1
end

local function drop(campaign)
  local own, hours = campaign_keys(mode, campaign)
  for _, key in ipairs(own) do call('DEL', key) end
  for _, key in ipairs(hours) do call('DEL', key) end
  call('SREM', KEY.confirmed(mode), campaign)
  call('ZREM', KEY.unconfirmed(mode), campaign)
  TOUCHED[mode] = true
end

local result
if what == 'confirm' then
  result = confirm(mode, name) and 'confirmed' or 'already'
elseif what == 'delete' then
  local daily = hgetall(KEY.campaign_daily(mode, name))
  if not exists(name) then
    result = 'unknown'
  else
    result = 'deleted'
    for f in pairs(daily) do
      -- Only landings may go: a payment's numbers must stay in exactly one
      -- campaign (SPEC §5); rename merges such a campaign instead.
      if not string.match(f, '|landings$') then result = 'paid' end
    end
    if result == 'deleted' then
      if is_confirmed(mode, name) then
        to_scoreboards(mode, name, daily, -1)
        hours_to_mode(mode, name, -1)
      end
      drop(name)
    end
  end
elseif what == 'rename' then
  if name == new then
    result = 'same'
  elseif not exists(name) then
    result = 'unknown'
  else
    local daily = hgetall(KEY.campaign_daily(mode, name))
    local days = days_of(mode, name)
    local was_confirmed = is_confirmed(mode, name)
    if was_confirmed then
      to_scoreboards(mode, name, daily, -1)
      hours_to_mode(mode, name, -1)
      confirm(mode, new)  -- folds what `new` had of its own, if anything
    end
    for f, v in pairs(daily) do hincr(KEY.campaign_daily(mode, new), f, tonumber(v)) end
    for f, v in pairs(hgetall(KEY.campaign(mode, name))) do
      hincr(KEY.campaign(mode, new), f, tonumber(v))
    end
    local hours_kept = {}
    for _, day in ipairs(days) do
      for f, v in pairs(hgetall(KEY.campaign_day(mode, name, day))) do
        hincr(KEY.campaign_day(mode, new, day), f, tonumber(v))
      end
      local hours = KEY.campaign_hours(mode, name, day)
      hours_kept[day] = hgetall(hours)
      for f, v in pairs(hours_kept[day]) do
        hincr(KEY.campaign_hours(mode, new, day), f, tonumber(v))
      end
      call('EXPIRE', KEY.campaign_hours(mode, new, day), HOURS_KEPT, 'NX')
    end
    if is_confirmed(mode, new) then
      to_scoreboards(mode, new, daily, 1)
      for day, fields in pairs(hours_kept) do
        for f, v in pairs(fields) do hincr(KEY.hours(mode, day), f, tonumber(v)) end
      end
    else
      local last = call('ZSCORE', KEY.unconfirmed(mode), name) or CFG.now_ms
      call('ZADD', KEY.unconfirmed(mode), 'GT', last, new)
      expire_unconfirmed(mode, new)
    end
    drop(name)
    -- Sessions still name the old campaign: they count under the new one.
    for old, to in pairs(hgetall(KEY.aliases(mode))) do
      if to == name then call('HSET', KEY.aliases(mode), old, new) end
    end
    call('HSET', KEY.aliases(mode), name, new)
    call('HDEL', KEY.aliases(mode), new)
    result = 'renamed'
  end
end
finish_counters()
return result
