"""The Lua scripts of the Redis delivery store: every change of a delivery's state is one script,
so it is atomic across any number of workers and a retried call cannot apply twice.

Keys (``P`` is the configured prefix; ``<ep>`` an endpoint key, ``<id>`` a delivery id):

- ``P:d:<id>`` hash, one delivery: ``ev ep url chat st att tries next ls le c u seq ord tok own``.
  ``tok`` says where its dispatch token is: a stream entry id, ``retry`` (in the retry set)
  or empty (none: final, held, or waiting behind an older delivery of its chat).
- ``P:ev:<id>`` hash, one event: ``name session ts body refs`` and ``@<ep>`` -> delivery id
  (one delivery per event and endpoint).
- ``P:att:<id>`` hash, attempt number -> the attempt as JSON.
- ``P:q:<ep>`` stream of due deliveries (field ``d``), read by the consumer group ``dispatch``;
  an entry is acknowledged and deleted once its attempt's outcome is stored.
- ``P:retry:<ep>`` sorted set, deliveries waiting for a retry, scored by when it is due.
- ``P:st:<ep>:<status>`` sorted sets by ``seq``: which delivery has which status (counts,
  listing, holding and resuming an endpoint's deliveries).
- ``P:lane:<ep>:<chat>`` sorted set by ``seq`` of an ordered endpoint's unfinished deliveries
  of one chat; only its head is ever queued. ``P:lanes:<ep>`` the chats with a lane.
- ``P:ep:<ep>`` hash, endpoint health (``url state reason failures success_at failure_at
  paused_until``); ``P:endpoints`` the endpoints with a row; ``P:queues`` the endpoints with
  a stream and group.
- ``P:seen:<ep>`` sorted set: the workers that asked for an endpoint's deliveries, by when
  (each gets a fair share of its in-flight limit).
- ``P:done`` sorted set of delivered deliveries by when (pruning); ``P:seq`` the insertion
  counter; ``P:stats`` counters (``reclaimed``, ``stale_outcomes``); ``P:alive:<consumer>``
  a worker's sign of life (expires).

Keys are built inside the scripts, so this needs one Redis server (a primary with replicas is
fine), not Redis Cluster.
"""

from __future__ import annotations

LIBRARY = r"""
local P = ARGV[1]
local G = 'dispatch'
local function dkey(id) return P .. ':d:' .. id end
local function qkey(ep) return P .. ':q:' .. ep end
local function rkey(ep) return P .. ':retry:' .. ep end
local function stkey(ep, st) return P .. ':st:' .. ep .. ':' .. st end
local function lanekey(ep, chat) return P .. ':lane:' .. ep .. ':' .. chat end
local function epkey(ep) return P .. ':ep:' .. ep end

local function ensure_queue(ep)
  if redis.call('SADD', P .. ':queues', ep) == 1 then
    redis.pcall('XGROUP', 'CREATE', qkey(ep), G, '0', 'MKSTREAM')
  end
end

local function set_status(id, ep, seq, from, to)
  if from and from ~= '' then redis.call('ZREM', stkey(ep, from), id) end
  redis.call('ZADD', stkey(ep, to), seq, id)
  redis.call('HSET', dkey(id), 'st', to)
end

local function drop_entry(ep, entry)
  redis.call('XACK', qkey(ep), G, entry)
  redis.call('XDEL', qkey(ep), entry)
end

-- Give a pending delivery its dispatch token: a stream entry when due, else the retry set.
local function schedule(id, ep, nxt, now)
  if nxt and nxt ~= '' and tonumber(nxt) > now then
    redis.call('ZADD', rkey(ep), nxt, id)
    redis.call('HSET', dkey(id), 'tok', 'retry')
  else
    local entry = redis.call('XADD', qkey(ep), '*', 'd', id)
    redis.call('HSET', dkey(id), 'tok', entry)
  end
end

-- The oldest unfinished delivery of a chat is the only one queued (per-chat FIFO).
local function activate_head(ep, chat, now)
  local head = redis.call('ZRANGE', lanekey(ep, chat), 0, 0)[1]
  if not head then
    redis.call('SREM', P .. ':lanes:' .. ep, chat)
    return
  end
  local d = redis.call('HMGET', dkey(head), 'st', 'tok', 'next')
  if d[1] == 'pending' and (not d[2] or d[2] == '') then schedule(head, ep, d[3], now) end
end

-- A delivery became pending without a token (new, re-sent, resumed).
local function queue_pending(id, ep, now)
  local d = redis.call('HMGET', dkey(id), 'ord', 'chat', 'seq', 'next')
  if d[1] == '1' then
    redis.call('ZADD', lanekey(ep, d[2]), d[3], id)
    redis.call('SADD', P .. ':lanes:' .. ep, d[2])
    activate_head(ep, d[2], now)
  else
    schedule(id, ep, d[4], now)
  end
end

-- Due retries of an endpoint move from the retry set to its stream.
local function promote(ep, now)
  local due = redis.call('ZRANGEBYSCORE', rkey(ep), '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    redis.call('ZREM', rkey(ep), id)
    local d = redis.call('HMGET', dkey(id), 'st', 'tok')
    if d[2] == 'retry' then
      if d[1] == 'pending' then
        local entry = redis.call('XADD', qkey(ep), '*', 'd', id)
        redis.call('HSET', dkey(id), 'tok', entry)
      else
        redis.call('HSET', dkey(id), 'tok', '')
      end
    end
  end
end

local function opt(value)
  if value == nil or value == cjson.null then return nil end
  return value
end
"""

#: ARGV: P, now, n_events, (id, name, session, ts, body) * n, n_deliveries,
#: (id, event_id, endpoint, url, chat, next_attempt_at, status, ordered) * m.
ADD = r"""
local now = tonumber(ARGV[2])
local i = 3
local ne = tonumber(ARGV[i]); i = i + 1
for _ = 1, ne do
  local ek = P .. ':ev:' .. ARGV[i]
  if redis.call('EXISTS', ek) == 0 then
    redis.call('HSET', ek, 'name', ARGV[i + 1], 'session', ARGV[i + 2], 'ts', ARGV[i + 3],
               'body', ARGV[i + 4], 'refs', 0)
  end
  i = i + 5
end
local nd = tonumber(ARGV[i]); i = i + 1
local seq = redis.call('INCRBY', P .. ':seq', nd) - nd
local added = 0
local lanes, lane_order = {}, {}
for _ = 1, nd do
  local id, ev, ep, url, chat, nxt, st, ord =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  i = i + 8
  local dk = dkey(id)
  if redis.call('EXISTS', dk) == 0 and redis.call('HSETNX', P .. ':ev:' .. ev, '@' .. ep, id) == 1 then
    seq = seq + 1
    added = added + 1
    ensure_queue(ep)
    if st == 'pending' and redis.call('HGET', epkey(ep), 'state') == 'disabled' then st = 'disabled' end
    redis.call('HSET', dk, 'ev', ev, 'ep', ep, 'url', url, 'chat', chat, 'att', 0, 'tries', 0,
               'next', nxt, 'c', now, 'u', now, 'seq', seq, 'ord', ord, 'tok', '')
    redis.call('HINCRBY', P .. ':ev:' .. ev, 'refs', 1)
    set_status(id, ep, seq, nil, st)
    if ord == '1' and st ~= 'delivered' and st ~= 'dead' then
      redis.call('ZADD', lanekey(ep, chat), seq, id)
      redis.call('SADD', P .. ':lanes:' .. ep, chat)
      local lane = ep .. '\0' .. chat
      if not lanes[lane] then
        lanes[lane] = true
        lane_order[#lane_order + 1] = {ep, chat}
      end
    elseif st == 'pending' then
      schedule(id, ep, nxt, now)
    end
  end
end
for _, lane in ipairs(lane_order) do activate_head(lane[1], lane[2], now) end
return added
"""

#: ARGV: P, endpoint, consumer, now, limit, cap (0: none), reclaim idle ms (0: skip), probe ms,
#: alive ttl ms (the worker's sign of life is renewed with every claim). Returns one array per claimed delivery: id, event id, event name, session, event timestamp,
#: url, attempts, tries, body, stream entry, reclaimed (0/1).
CLAIM = r"""
local ep, me = ARGV[2], ARGV[3]
local now, limit, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local idle, probe = tonumber(ARGV[7]), tonumber(ARGV[8])
redis.call('SET', P .. ':alive:' .. me, '1', 'PX', ARGV[9])
local state = redis.call('HMGET', epkey(ep), 'state', 'paused_until')
if state[1] == 'disabled' then return {} end
local probing = false
if state[1] == 'paused' then
  if now < (tonumber(state[2]) or 0) then return {} end
  limit = 1
  probing = true
end
ensure_queue(ep)
promote(ep, now)
local q = qkey(ep)
local out = {}
local function take(entry, reclaimed)
  local entry_id, fields = entry[1], entry[2]
  local id = fields and fields[2]
  if not id then
    redis.call('XACK', q, G, entry_id)
    return
  end
  local dk = dkey(id)
  local d = redis.call('HMGET', dk, 'tok', 'st', 'seq', 'ev', 'url', 'att', 'tries')
  if d[1] ~= entry_id or (d[2] ~= 'pending' and d[2] ~= 'in_flight') then
    drop_entry(ep, entry_id)  -- a token outlived its delivery's state (held, re-queued, pruned)
    if d[1] == entry_id then redis.call('HSET', dk, 'tok', '') end
    return
  end
  if d[2] == 'pending' then set_status(id, ep, d[3], 'pending', 'in_flight') end
  redis.call('HSET', dk, 'own', me, 'u', now)
  if reclaimed then redis.call('HINCRBY', P .. ':stats', 'reclaimed', 1) end
  local e = redis.call('HMGET', P .. ':ev:' .. d[4], 'name', 'session', 'ts', 'body')
  out[#out + 1] = {id, d[4], e[1] or '', e[2] or '', e[3] or '0', d[5], d[6], d[7], e[4] or '',
                   entry_id, reclaimed and 1 or 0}
end
if idle > 0 then
  local r = redis.call('XAUTOCLAIM', q, G, me, idle, '0-0', 'COUNT', limit)
  for _, entry in ipairs(r[2]) do take(entry, true) end
end
local slots = limit - #out
if cap > 0 then
  slots = math.min(slots, cap - redis.call('ZCARD', stkey(ep, 'in_flight')))
  -- A fair share of the limit for each worker asking for this endpoint lately, so that one
  -- worker that is quick to ask again cannot keep every slot to itself.
  local seen = P .. ':seen:' .. ep
  redis.call('ZADD', seen, now, me)
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', now - 10000)
  local askers = redis.call('ZCOUNT', seen, now - 2000, '+inf')
  local share = math.ceil(cap / math.max(1, askers))
  local mine = 0
  local summary = redis.call('XPENDING', q, G)
  if summary[4] then
    for _, c in ipairs(summary[4]) do
      if c[1] == me then mine = tonumber(c[2]) end
    end
  end
  slots = math.min(slots, share - mine)
end
local rounds = 0
while slots > 0 and rounds < 8 do
  rounds = rounds + 1
  local r = redis.call('XREADGROUP', 'GROUP', G, me, 'COUNT', slots, 'STREAMS', q, '>')
  if not r then break end
  local entries = r[1][2]
  if #entries == 0 then break end
  local before = #out
  for _, entry in ipairs(entries) do take(entry, false) end
  slots = slots - (#out - before)
end
if probing and #out > 0 then redis.call('HSET', epkey(ep), 'paused_until', now + probe) end
return out
"""

#: ARGV: P, consumer, now, breaker settings as JSON ({endpoint: [failures, probe ms]}), then one
#: JSON array per attempt: [id, entry, outcome, next_attempt_at, attempt, status, error, row].
#: Returns the number of stale outcomes (the delivery was taken over meanwhile: only the
#: attempt is kept).
RECORD = r"""
local me, now = ARGV[2], tonumber(ARGV[3])
local settings = cjson.decode(ARGV[4])
local stale = 0
for i = 5, #ARGV do
  local a = cjson.decode(ARGV[i])
  local id, entry, outcome, nxt, attempt = a[1], a[2], a[3], opt(a[4]), a[5]
  local dk = dkey(id)
  local d = redis.call('HMGET', dk, 'tok', 'own', 'st', 'ep', 'chat', 'ord', 'seq', 'att')
  if d[3] then redis.call('HSET', P .. ':att:' .. id, attempt, a[8]) end
  if d[1] ~= entry or d[2] ~= me or d[3] ~= 'in_flight' then
    stale = stale + 1
  else
    local ep = d[4]
    drop_entry(ep, entry)
    redis.call('HSET', dk, 'att', math.max(tonumber(d[8]) or 0, attempt), 'u', now, 'tok', '')
    redis.call('HINCRBY', dk, 'tries', 1)
    redis.call('HDEL', dk, 'own')
    if nxt then redis.call('HSET', dk, 'next', nxt) else redis.call('HDEL', dk, 'next') end
    if opt(a[6]) then redis.call('HSET', dk, 'ls', a[6]) else redis.call('HDEL', dk, 'ls') end
    if opt(a[7]) then redis.call('HSET', dk, 'le', a[7]) else redis.call('HDEL', dk, 'le') end
    set_status(id, ep, d[7], 'in_flight', outcome)
    if outcome == 'pending' then
      schedule(id, ep, nxt, now)
    elseif outcome == 'delivered' or outcome == 'dead' then
      if outcome == 'delivered' then redis.call('ZADD', P .. ':done', now, id) end
      if d[6] == '1' then
        redis.call('ZREM', lanekey(ep, d[5]), id)
        activate_head(ep, d[5], now)
      end
    end
    -- The circuit breaker, shared by every worker: consecutive failures of the endpoint.
    local ek = epkey(ep)
    local state = redis.call('HGET', ek, 'state')
    if state then
      if outcome == 'delivered' then
        redis.call('HSET', ek, 'failures', 0, 'success_at', now)
        if state == 'paused' then redis.call('HSET', ek, 'state', 'active', 'reason', '', 'paused_until', 0) end
      else
        local failures = redis.call('HINCRBY', ek, 'failures', 1)
        redis.call('HSET', ek, 'failure_at', now)
        local cfg = settings[ep]
        if state == 'active' and cfg and cfg[1] > 0 and failures >= cfg[1] then
          redis.call('HSET', ek, 'state', 'paused', 'reason', failures .. ' consecutive failures',
                     'paused_until', now + cfg[2])
        end
      end
    end
  end
end
if stale > 0 then redis.call('HINCRBY', P .. ':stats', 'stale_outcomes', stale) end
return stale
"""

#: ARGV: P, consumer, now, then (delivery id, stream entry) pairs. Returns how many went back.
RELEASE = r"""
local me, now = ARGV[2], tonumber(ARGV[3])
local released = 0
for i = 4, #ARGV, 2 do
  local id, entry = ARGV[i], ARGV[i + 1]
  local d = redis.call('HMGET', dkey(id), 'tok', 'own', 'st', 'ep', 'seq')
  if d[1] == entry and d[2] == me and d[3] == 'in_flight' then
    drop_entry(d[4], entry)
    redis.call('HDEL', dkey(id), 'own')
    set_status(id, d[4], d[5], 'in_flight', 'pending')
    local e = redis.call('XADD', qkey(d[4]), '*', 'd', id)
    redis.call('HSET', dkey(id), 'tok', e)
    released = released + 1
  end
end
return released
"""

#: ARGV: P, endpoint, consumer (this one), now. Claims of consumers without a sign of life go
#: back to pending at once; those consumers leave the group. Returns how many went back.
RECOVER = r"""
local ep, me, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local q = qkey(ep)
local consumers = redis.pcall('XINFO', 'CONSUMERS', q, G)
if consumers.err then return 0 end
local recovered = 0
for _, c in ipairs(consumers) do
  local info = {}
  for k = 1, #c, 2 do info[c[k]] = c[k + 1] end
  local name, pending = info['name'], tonumber(info['pending']) or 0
  if name ~= me and redis.call('EXISTS', P .. ':alive:' .. name) == 0 then
    if pending > 0 then
      for _, p in ipairs(redis.call('XPENDING', q, G, '-', '+', pending, name)) do
        local entry = p[1]
        local found = redis.call('XRANGE', q, entry, entry)[1]
        local id = found and found[2][2]
        local d = id and redis.call('HMGET', dkey(id), 'tok', 'st', 'seq') or {}
        drop_entry(ep, entry)
        if id and d[1] == entry and d[2] == 'in_flight' then
          redis.call('HDEL', dkey(id), 'own')
          set_status(id, ep, d[3], 'in_flight', 'pending')
          local e = redis.call('XADD', q, '*', 'd', id)
          redis.call('HSET', dkey(id), 'tok', e)
          recovered = recovered + 1
        elseif id and d[1] == entry then
          redis.call('HSET', dkey(id), 'tok', '')
        end
      end
    end
    redis.call('XGROUP', 'DELCONSUMER', q, G, name)
  end
end
if recovered > 0 then redis.call('HINCRBY', P .. ':stats', 'reclaimed', recovered) end
return recovered
"""

#: ARGV: P, consumer, alive ttl ms, then (endpoint, delivery id, entry) triples: claims this
#: worker still holds are renewed (their idle time restarts), so no one takes them over.
TOUCH = r"""
local me, ttl = ARGV[2], tonumber(ARGV[3])
redis.call('SET', P .. ':alive:' .. me, '1', 'PX', ttl)
local renewed = 0
for i = 4, #ARGV, 3 do
  local ep, id, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local d = redis.call('HMGET', dkey(id), 'tok', 'own')
  if d[1] == entry and d[2] == me then
    redis.call('XCLAIM', qkey(ep), G, me, 0, entry, 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed
"""

#: ARGV: P, endpoint, now, cap. Returns {due ms or -1, saturated 0/1, last stream id}.
NEXT_DUE = r"""
local ep, now, cap = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local q = qkey(ep)
local last = '0-0'
local info = redis.pcall('XINFO', 'STREAM', q)
if not info.err then
  for k = 1, #info, 2 do
    if info[k] == 'last-generated-id' then last = info[k + 1] end
  end
end
local state = redis.call('HMGET', epkey(ep), 'state', 'paused_until')
if state[1] == 'disabled' then return {-1, 0, last} end
local due = -1
local first = redis.call('ZRANGE', rkey(ep), 0, 0, 'WITHSCORES')
if first[2] then due = tonumber(first[2]) end
local saturated = 0
if not info.err then
  local summary = redis.pcall('XPENDING', q, G)
  local claimed = (not summary.err) and tonumber(summary[1]) or 0
  if redis.call('XLEN', q) > claimed then
    if cap > 0 and redis.call('ZCARD', stkey(ep, 'in_flight')) >= cap then
      saturated = 1
    else
      due = now
    end
  end
end
if state[1] == 'paused' and due >= 0 then due = math.max(due, tonumber(state[2]) or 0) end
return {due, saturated, last}
"""

#: The dispatch path's scripts; the operator's are in :mod:`plugins.webhook.redis_lua_admin`.
SCRIPTS = {
    "add": ADD, "claim": CLAIM, "record": RECORD, "release": RELEASE, "recover": RECOVER,
    "touch": TOUCH, "next_due": NEXT_DUE,
}
