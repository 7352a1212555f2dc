"""The Redis store's scripts for endpoint state and the operator's commands (hold and resume an
endpoint, re-send, prune, describe deliveries). Keys and helpers: :mod:`plugins.webhook.redis_lua`."""

from __future__ import annotations

#: ARGV: P, now, probe ms, JSON [endpoint, url, state, reason, failures, success_at, failure_at].
SET_ENDPOINT = r"""
local now, probe = tonumber(ARGV[2]), tonumber(ARGV[3])
local a = cjson.decode(ARGV[4])
local ep, url, state, reason, failures = a[1], a[2], a[3], opt(a[4]), a[5]
local ek = epkey(ep)
redis.call('SADD', P .. ':endpoints', ep)
redis.call('HSET', ek, 'url', url, 'state', state, 'reason', reason or '', 'failures', failures)
if opt(a[6]) then redis.call('HSET', ek, 'success_at', a[6]) end
if opt(a[7]) then redis.call('HSET', ek, 'failure_at', a[7]) end
if state == 'paused' then
  local until_ms = tonumber(redis.call('HGET', ek, 'paused_until')) or 0
  if until_ms < now then redis.call('HSET', ek, 'paused_until', now + probe) end
else
  redis.call('HSET', ek, 'paused_until', 0)
end
if state == 'disabled' then
  for _, id in ipairs(redis.call('ZRANGE', stkey(ep, 'pending'), 0, -1)) do
    local d = redis.call('HMGET', dkey(id), 'tok', 'seq')
    if d[1] == 'retry' then
      redis.call('ZREM', rkey(ep), id)
      redis.call('HSET', dkey(id), 'tok', '')
    end
    set_status(id, ep, d[2], 'pending', 'disabled')
    redis.call('HSET', dkey(id), 'u', now)
  end
end
return 1
"""

#: ARGV: P, endpoint name or URL, now. Returns the deliveries resumed, or -1: no such endpoint.
ENABLE = r"""
local key, now = ARGV[2], tonumber(ARGV[3])
local found = {}
for _, ep in ipairs(redis.call('SMEMBERS', P .. ':endpoints')) do
  if ep == key or redis.call('HGET', epkey(ep), 'url') == key then found[#found + 1] = ep end
end
if #found == 0 then return -1 end
local resumed = 0
for _, ep in ipairs(found) do
  redis.call('HSET', epkey(ep), 'state', 'active', 'reason', '', 'failures', 0, 'paused_until', 0)
  for _, id in ipairs(redis.call('ZRANGE', stkey(ep, 'disabled'), 0, -1)) do
    local d = redis.call('HMGET', dkey(id), 'seq', 'tok')
    set_status(id, ep, d[1], 'disabled', 'pending')
    redis.call('HSET', dkey(id), 'next', now, 'tries', 0, 'u', now)
    if not d[2] or d[2] == '' then queue_pending(id, ep, now) end
    resumed = resumed + 1
  end
end
return resumed
"""

#: ARGV: P, now, delivery ids. Dead or delivered ones become pending now, with a fresh budget.
RETRY = r"""
local now = tonumber(ARGV[2])
local count = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local d = redis.call('HMGET', dkey(id), 'st', 'ep', 'seq')
  if d[1] == 'dead' or d[1] == 'delivered' then
    if d[1] == 'delivered' then redis.call('ZREM', P .. ':done', id) end
    set_status(id, d[2], d[3], d[1], 'pending')
    redis.call('HSET', dkey(id), 'next', now, 'tries', 0, 'u', now, 'tok', '')
    queue_pending(id, d[2], now)
    count = count + 1
  end
end
return count
"""

#: ARGV: P, cutoff ms (exclusive), batch size. Deletes delivered deliveries last changed before
#: the cutoff, their attempts, and events no delivery refers to. Returns {examined, pruned}.
PRUNE = r"""
local cutoff, batch = ARGV[2], tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', P .. ':done', '-inf', '(' .. cutoff, 'LIMIT', 0, batch)
local pruned = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', P .. ':done', id)
  local d = redis.call('HMGET', dkey(id), 'st', 'ep', 'ev')
  if d[1] == 'delivered' then
    redis.call('ZREM', stkey(d[2], 'delivered'), id)
    redis.call('DEL', dkey(id), P .. ':att:' .. id)
    local ek = P .. ':ev:' .. d[3]
    redis.call('HDEL', ek, '@' .. d[2])
    if redis.call('HINCRBY', ek, 'refs', -1) <= 0 then redis.call('DEL', ek) end
    pruned = pruned + 1
  end
end
return {#ids, pruned}
"""

#: ARGV: P, delivery ids. One array per id (empty when missing): id, event id, event name,
#: session, endpoint, url, status, attempts, last status, last error, next, created, updated, seq.
DESCRIBE = r"""
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local d = redis.call('HMGET', dkey(id), 'ev', 'ep', 'url', 'st', 'att', 'ls', 'le', 'next', 'c', 'u', 'seq')
  if d[1] then
    local e = redis.call('HMGET', P .. ':ev:' .. d[1], 'name', 'session')
    out[#out + 1] = {id, d[1], e[1] or '', e[2] or '', d[2], d[3], d[4], d[5], d[6] or '', d[7] or '',
                     d[8] or '', d[9], d[10], d[11]}
  else
    out[#out + 1] = {}
  end
end
return out
"""


ADMIN_SCRIPTS = {
    "set_endpoint": SET_ENDPOINT, "enable": ENABLE, "retry": RETRY, "prune": PRUNE, "describe": DESCRIBE,
}
