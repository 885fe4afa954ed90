"""The Lua scripts the nodes run in Redis: each is one atomic step.

Name keys hold "GID DISPLAY" (the holding session's id, then the name as
shown); a node's held set lists "GID KEY" for each key it holds, so its
heartbeat refreshes only keys still its own.
"""

CLAIM = """
-- KEYS: name key, look key, held set. ARGV: value, "GID ", ttl ms, force (1/0)
local mine = ARGV[2]
local function holder(v) return string.sub(v, string.find(v, ' ') + 1) end
local ghost = nil
local name = redis.call('GET', KEYS[1])
if name and string.sub(name, 1, #mine) ~= mine then
  if ARGV[4] ~= '1' then return holder(name) end
  ghost = string.match(name, '^(%d+) ')
end
local look = redis.call('GET', KEYS[2])
if look and string.sub(look, 1, #mine) ~= mine and string.match(look, '^(%d+) ') ~= ghost then
  return holder(look)
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('SADD', KEYS[3], mine .. KEYS[1], mine .. KEYS[2])
return false
"""

RELEASE = """
-- KEYS: held set. ARGV: "GID ", then the keys that GID gives up
local mine = ARGV[1]
for i = 2, #ARGV do
  local v = redis.call('GET', ARGV[i])
  if v and string.sub(v, 1, #mine) == mine then redis.call('DEL', ARGV[i]) end
  redis.call('SREM', KEYS[1], mine .. ARGV[i])
end
return 0
"""

BEAT = """
-- KEYS: node key, held set, lost marker, nodes set. ARGV: ttl ms, node
-- Keeps this node alive and its names held; returns {was it declared lost,
-- the ids of sessions whose names are no longer theirs}.
local lost = redis.call('EXISTS', KEYS[3])
if lost == 1 then redis.call('DEL', KEYS[3]) end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
local gone = {}
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local space = string.find(entry, ' ')
  local gid = string.sub(entry, 1, space)
  local key = string.sub(entry, space + 1)
  local v = redis.call('GET', key)
  if v and string.sub(v, 1, #gid) == gid then
    redis.call('PEXPIRE', key, ARGV[1])
  else
    redis.call('SREM', KEYS[2], entry)
    table.insert(gone, string.sub(gid, 1, #gid - 1))
  end
end
return {lost, gone}
"""

APPEND = """
-- KEYS: log, its sequence counter. ARGV: log length, origin node, entry JSON.
-- Each entry carries the log's next sequence number: a reader that sees one
-- missing knows entries were trimmed before it read them.
local n = redis.call('INCR', KEYS[2])
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'o', ARGV[2], 'n', n, 'd', ARGV[3])
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
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if node ~= ARGV[2] and redis.call('EXISTS', p .. ':node:' .. node) == 1 then
    table.insert(live, node)
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
        tonumber(redis.call('GET', KEYS[8]) or '0'), live}
"""

TRIM_ROOMS = """
-- KEYS: rooms zset. ARGV: prefix, most rooms with history.
-- The least recently active rooms lose their history past the limit.
while redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[2]) do
  local oldest = redis.call('ZPOPMIN', KEYS[1])
  redis.call('DEL', ARGV[1] .. ':history:' .. oldest[1])
end
return 0
"""
