"""The Lua scripts the nodes run in Redis: each is one atomic step.

Name keys hold "GID CLAIM DISPLAY": the holding session's id, the number of
the claim (a node counts them), the name as shown. A node's held hash maps
each key it holds to that value, so its heartbeat refreshes only keys still
its own (and sets again one that expired while it was away, if nobody took
it), and a release deletes a key only if it still holds that very claim.
"""

CLAIM = """
-- KEYS: name key, look key, held hash. ARGV: value, "GID ", ttl ms, force (1/0)
-- {'taken', the holder's name} or {'ok', the id of the session it was taken from}
local mine = ARGV[2]
local function holder(v)
  local first = string.find(v, ' ', 1, true)
  return string.sub(v, string.find(v, ' ', first + 1, true) + 1)
end
local function owner(v) return string.match(v, '^(%d+) ') or '' end
local ghost = ''
local name = redis.call('GET', KEYS[1])
if name and string.sub(name, 1, #mine) ~= mine then
  if ARGV[4] ~= '1' then return {'taken', holder(name)} end
  ghost = owner(name)
end
local look = redis.call('GET', KEYS[2])
if look and string.sub(look, 1, #mine) ~= mine and owner(look) ~= ghost then
  return {'taken', holder(look)}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('HSET', KEYS[3], KEYS[1], ARGV[1], KEYS[2], ARGV[1])
return {'ok', ghost}
"""

RELEASE = """
-- KEYS: held hash. ARGV: (key, value) pairs: each key is given up if it still
-- holds that value (a later claim of the same name by the same session stays).
for i = 1, #ARGV, 2 do
  if redis.call('GET', ARGV[i]) == ARGV[i + 1] then redis.call('DEL', ARGV[i]) end
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0
"""

BEAT = """
-- KEYS: node key, held hash, lost marker, nodes set. ARGV: ttl ms, node
-- Keeps this node alive and its names held (one that expired while the node was
-- away is set again if nobody took it); returns {was this node declared lost or
-- forgotten (its key expired, or Redis lost its data), the ids of sessions whose
-- names others hold now}.
local lost = redis.call('EXISTS', KEYS[3])
if lost == 1 then redis.call('DEL', KEYS[3]) end
if redis.call('EXISTS', KEYS[1]) == 0 then lost = 1 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
local gone = {}
local held = redis.call('HGETALL', KEYS[2])
for i = 1, #held, 2 do
  local key, value = held[i], held[i + 1]
  local now = redis.call('GET', key)
  if now == value then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not now then
    redis.call('SET', key, value, 'PX', ARGV[1])
  else
    redis.call('HDEL', KEYS[2], key)
    table.insert(gone, string.match(value, '^(%d+) ') or '0')
  end
end
return {lost, gone}
"""

APPEND = """
-- KEYS: log, its sequence counter, rooms zset.
-- ARGV: log length, origin node, entry JSON, prefix, lines a room keeps, rooms
-- with history at most, then (room, time, line JSON) for each public line said
-- (rooms are ranked by Redis's clock, not the line's time).
-- Each entry carries the log's next sequence number: a reader that sees one
-- missing knows entries were trimmed before it read them. The lines go to
-- their rooms' history in the same step; the least recently active rooms past
-- the limit lose theirs.
local n = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'o', ARGV[2], 'n', n,
                      'd', ARGV[3])
if #ARGV > 6 then
  local now = redis.call('TIME')  -- Redis's clock: the nodes' may disagree
  local score = tonumber(now[1]) + tonumber(now[2]) / 1000000
  for i = 7, #ARGV, 3 do
    redis.call('XADD', ARGV[4] .. ':history:' .. ARGV[i], 'MAXLEN', ARGV[5], '*', 'r', ARGV[i + 2])
    redis.call('ZADD', KEYS[3], 'GT', score, ARGV[i])
  end
  while redis.call('ZCARD', KEYS[3]) > tonumber(ARGV[6]) do
    local oldest = redis.call('ZPOPMIN', KEYS[3])
    redis.call('DEL', ARGV[4] .. ':history:' .. oldest[1])
  end
end
return id
"""

REAP = """
-- KEYS: nodes set, log, its sequence counter. ARGV: prefix, log length
-- Each node whose liveness key expired is announced lost, once.
local found = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local p = ARGV[1]
  if redis.call('EXISTS', p .. ':node:' .. node) == 0 then
    redis.call('SREM', KEYS[1], node)
    if redis.call('SET', p .. ':lost:' .. node, '1', 'NX', 'PX', 600000) then
      redis.call('DEL', p .. ':sessions:' .. node, p .. ':held:' .. node)
      local n = redis.call('INCR', KEYS[3])
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'o', '0', 'n', n,
                 'd', '{"lost":' .. node .. '}')
      table.insert(found, node)
    end
  end
end
return found
"""

SNAPSHOT = """
-- KEYS: nodes set, log, topics, accounts, bans, mutes, rooms zset, log sequence.
-- ARGV: prefix, this node, rooms to read, lines per room.
-- Everything a node needs to start, as of one log position.
local p = ARGV[1]
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
local sessions = {}
local live = {}
local listed = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if node ~= ARGV[2] and redis.call('EXISTS', p .. ':node:' .. node) == 1 then
    table.insert(live, node)
    if redis.call('EXISTS', p .. ':sessions:' .. node) == 1 then table.insert(listed, node) end
    for _, state in ipairs(redis.call('HVALS', p .. ':sessions:' .. node)) do
      table.insert(sessions, state)
    end
  end
end
local history = {}
local rooms = redis.call('ZREVRANGE', KEYS[7], 0, tonumber(ARGV[3]) - 1)
for _, room in ipairs(rooms) do
  local lines = redis.call('XREVRANGE', p .. ':history:' .. room, '+', '-', 'COUNT', ARGV[4])
  for i = #lines, 1, -1 do table.insert(history, lines[i][2][2]) end
end
return {id, sessions, redis.call('HGETALL', KEYS[3]), redis.call('HVALS', KEYS[4]),
        redis.call('HVALS', KEYS[5]), redis.call('HVALS', KEYS[6]), history,
        tonumber(redis.call('GET', KEYS[8]) or '0'), live, listed}
"""
