"""The Lua scripts that keep an indexed object and its index entries in step.

Each script runs atomically on the server, so a write is all or nothing even if
the connection drops mid-pipeline, and concurrent writers of one object can
never interleave their index updates.  Expire-at times use the server's clock
(``TIME``), the same clock ``purge_expired`` compares against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .commands import Command

__all__ = [
    "BY_SHA", "DELETE", "EXPIRE", "HASH_DELETE", "HASH_PATCH", "HASH_PRUNE", "HASH_UPDATE", "PATCH", "PURGE", "SAVE",
    "Script",
]  # fmt: skip


#: Every script of the backend by its SHA1 (filled as scripts are defined).
BY_SHA: dict[str, Script] = {}


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA1, for EVALSHA."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())
        BY_SHA[self.sha] = self  # so a plan can resend the source of any script the server lacks

    def evalsha(self, keys: Sequence[Any], args: Sequence[Any]) -> Command:
        """The EVALSHA command for these keys and arguments."""
        return Command(("EVALSHA", self.sha, len(keys), *keys, *args))

    def load(self) -> Command:
        """The SCRIPT LOAD command (before pipelining EVALSHA)."""
        return Command(("SCRIPT", "LOAD", self.source))


_NOW = "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

#: Saves a batch of objects of one model (a single set() is a batch of one), so the
#: per-call cost of a script is shared.
#: KEYS: schedule, the K index keys (value set, null set per field), then per object its
#: key and its entries hash.  ARGV: K, mode ('SET' | 'XX' = only objects still stored),
#: then per object: payload, px ('' = no expiry, 'KEEP' = keep TTL), pk, entry count n,
#: and n triples (index key position from 1, score, member).  Returns how many were written.
#: Only entries that changed are touched: an overwrite that keeps its indexed values costs
#: HGETALL, one ZADD per scored field (the score may have moved), SET and the schedule update.
SAVE = Script(
    "local nidx, mode = tonumber(ARGV[1]), ARGV[2]\n"
    "local written, now = 0, nil\n"
    "local a, k = 3, 2 + nidx\n"
    "while a <= #ARGV do\n"
    "  local okey, ekey = KEYS[k], KEYS[k + 1]\n"
    "  k = k + 2\n"
    "  local payload, px, pk = ARGV[a], ARGV[a + 1], ARGV[a + 2]\n"
    "  local first, last = a + 4, a + 3 + 3 * tonumber(ARGV[a + 3])\n"
    "  a = last + 1\n"
    "  if mode ~= 'XX' or redis.call('EXISTS', okey) == 1 then\n"
    "    local old = redis.call('HGETALL', ekey)\n"
    "    local prev = {}\n"
    "    for i = 1, #old, 2 do prev[old[i]] = old[i + 1] end\n"
    "    local changed = {}\n"
    "    for i = first, last, 3 do\n"
    "      local key, member = KEYS[1 + tonumber(ARGV[i])], ARGV[i + 2]\n"
    "      local was = prev[key]\n"
    "      if was ~= member then\n"
    "        if was then redis.call('ZREM', key, was) end\n"
    "        changed[#changed + 1] = key\n"
    "        changed[#changed + 1] = member\n"
    "      end\n"
    "      if was ~= member or ARGV[i + 1] ~= '0' then redis.call('ZADD', key, ARGV[i + 1], member) end\n"
    "      prev[key] = nil\n"
    "    end\n"
    "    for key, member in pairs(prev) do\n"
    "      redis.call('ZREM', key, member)\n"
    "      redis.call('HDEL', ekey, key)\n"
    "    end\n"
    "    if #changed > 0 then redis.call('HSET', ekey, unpack(changed)) end\n"
    "    if px == 'KEEP' then\n"
    "      redis.call('SET', okey, payload, 'KEEPTTL')\n"
    "    elseif px == '' then\n"
    "      redis.call('SET', okey, payload)\n"
    "      redis.call('ZREM', KEYS[1], pk)\n"
    "    else\n"
    "      redis.call('SET', okey, payload, 'PX', px)\n"
    "      if not now then\n"
    "        local t = redis.call('TIME')\n"
    "        now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "      end\n"
    "      redis.call('ZADD', KEYS[1], now + tonumber(px), pk)\n"
    "    end\n"
    "    written = written + 1\n"
    "  end\n"
    "end\n"
    "return written\n"
)

#: Lua helpers over the claims of ``__unique__`` fields.  Per field two hashes: the claims
#: (canonical value text -> pk) and what each object owns (pk -> text).  ``taken``: another
#: object holds the value and still does (its owned entry says so, and ``alive(owner)``: its key,
#: or its field of the hash, exists).  A claim whose owner expired, was deleted behind the
#: library's back or moved on to another value is stale: taken over, never a clash (the stale
#: owner's owned entry goes with it).  ``claim`` moves one object's claim to ``text`` ('' = None:
#: no claim); ``release`` drops it.
#: ``claim_all(at, pk, alive)`` reads ARGV[at] = U, then U pairs (position in KEYS of the claims
#: hash, the owned hash following it; text), checks them all, then makes them all: it returns the
#: index (from 0) of the first clash, having written nothing, or nil.
_UNIQUE = (
    "local function taken(ckey, okey, text, pk, alive)\n"
    "  local owner = redis.call('HGET', ckey, text)\n"
    "  if not owner or owner == pk then return false end\n"
    "  if redis.call('HGET', okey, owner) ~= text then return false end\n"
    "  return alive(owner)\n"
    "end\n"
    "local function claim(ckey, okey, text, pk)\n"
    "  local was = redis.call('HGET', okey, pk)\n"
    "  if was and was ~= text and redis.call('HGET', ckey, was) == pk then redis.call('HDEL', ckey, was) end\n"
    "  if text == '' then\n"
    "    if was then redis.call('HDEL', okey, pk) end\n"
    "  else\n"
    "    local owner = redis.call('HGET', ckey, text)\n"
    "    if owner and owner ~= pk and redis.call('HGET', okey, owner) == text then\n"
    "      redis.call('HDEL', okey, owner)\n"
    "    end\n"
    "    redis.call('HSET', ckey, text, pk)\n"
    "    if was ~= text then redis.call('HSET', okey, pk, text) end\n"
    "  end\n"
    "end\n"
    "local function release(ckey, okey, pk)\n"
    "  local was = redis.call('HGET', okey, pk)\n"
    "  if was then\n"
    "    if redis.call('HGET', ckey, was) == pk then redis.call('HDEL', ckey, was) end\n"
    "    redis.call('HDEL', okey, pk)\n"
    "  end\n"
    "end\n"
    "local function claim_all(at, pk, alive)\n"
    "  local n = tonumber(ARGV[at])\n"
    "  for i = 0, n - 1 do\n"
    "    local k, text = tonumber(ARGV[at + 1 + 2 * i]), ARGV[at + 2 + 2 * i]\n"
    "    if text ~= '' and taken(KEYS[k], KEYS[k + 1], text, pk, alive) then return i end\n"
    "  end\n"
    "  for i = 0, n - 1 do\n"
    "    local k = tonumber(ARGV[at + 1 + 2 * i])\n"
    "    claim(KEYS[k], KEYS[k + 1], ARGV[at + 2 + 2 * i], pk)\n"
    "  end\n"
    "  return nil\n"
    "end\n"
)

#: KEYS: object, entries hash, schedule, then per ``__unique__`` field its claims and owned hashes.
#: ARGV: pk.  Returns the number of objects deleted (0 or 1); the object's index entries and claims go.
DELETE = Script(
    _UNIQUE + "local old = redis.call('HGETALL', KEYS[2])\n"
    "for i = 1, #old, 2 do redis.call('ZREM', old[i], old[i + 1]) end\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "for i = 4, #KEYS, 2 do release(KEYS[i], KEYS[i + 1], ARGV[1]) end\n"
    "return redis.call('DEL', KEYS[1])\n"
)

#: KEYS: object, schedule.  ARGV: pk, px ('' = persist).  Returns 1 when the TTL changed.
EXPIRE = Script(
    "if ARGV[2] == '' then\n"
    "  local r = redis.call('PERSIST', KEYS[1])\n"
    # An object that just expired keeps its schedule entry: purge_expired() must still find it.
    "  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('ZREM', KEYS[2], ARGV[1]) end\n"
    "  return r\n"
    "end\n"
    "local r = redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "if r == 1 then\n" + _NOW + "  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])\n"
    "end\n"
    "return r\n"
)

#: KEYS: schedule, then per ``__unique__`` field its claims and owned hashes.  ARGV: object key
#: prefix, entries key prefix, batch size.  Removes the index entries and the unique claims of up to
#: one batch of expired objects.  Returns {purged, examined}.
PURGE = Script(
    _UNIQUE + _NOW + "local pks = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local n = 0\n"
    "for _, pk in ipairs(pks) do\n"
    "  if redis.call('EXISTS', ARGV[1] .. pk) == 0 then\n"
    "    local e = ARGV[2] .. pk\n"
    "    local old = redis.call('HGETALL', e)\n"
    "    for i = 1, #old, 2 do redis.call('ZREM', old[i], old[i + 1]) end\n"
    "    redis.call('DEL', e)\n"
    "    for i = 2, #KEYS, 2 do release(KEYS[i], KEYS[i + 1], pk) end\n"
    "    n = n + 1\n"
    "  end\n"
    "  redis.call('ZREM', KEYS[1], pk)\n"
    "end\n"
    "return {n, #pks}\n"
)

#: Query update() on the hash layout: writes fields of one hash only where they still exist
#: (an object deleted meanwhile is not resurrected).  KEYS: the hash.  ARGV: field, value,
#: field, value ...  Returns how many were written.
HASH_UPDATE = Script(
    "local n = 0\n"
    "for i = 1, #ARGV, 2 do\n"
    "  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then\n"
    "    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n"
)

#: Lua helpers over JSON documents at their top level, with no JSON library: ``split(doc)``
#: lists the raw key texts in order and maps each to its raw value text; ``merge(old, new)``
#: puts the members of ``new`` over those of ``old`` (new keys go last).  Values are copied
#: byte for byte: a field the write does not name keeps exactly what was stored (cjson would
#: round numbers to 14 digits and turn ``[]`` into ``{}``).  ``stale(doc, vkey, expected)``:
#: the stored version (raw key ``vkey``; null or missing counts as 0) is not ``expected``.
_JSON = (
    "local function strend(s, j)\n"
    "  j = j + 1\n"
    "  while true do\n"
    "    local k = string.find(s, '[\"\\\\]', j)\n"
    "    if string.byte(s, k) == 34 then return k + 1 end\n"
    "    j = k + 2\n"
    "  end\n"
    "end\n"
    "local function split(s)\n"
    "  local keys, vals = {}, {}\n"
    "  local i = string.find(s, '{', 1, true) + 1\n"
    "  while true do\n"
    "    i = string.find(s, '[^%s]', i)\n"
    "    if string.byte(s, i) == 44 then i = string.find(s, '[^%s]', i + 1) end\n"
    "    if string.byte(s, i) == 125 then break end\n"
    "    local e = strend(s, i)\n"
    "    local key = string.sub(s, i, e - 1)\n"
    "    i = string.find(s, '[^%s]', string.find(s, ':', e, true) + 1)\n"
    "    local start, depth = i, 0\n"
    "    while true do\n"
    "      local k = string.find(s, '[\",{}%[%]]', i)\n"
    "      local b = string.byte(s, k)\n"
    "      if b == 34 then i = strend(s, k)\n"
    "      elseif b == 123 or b == 91 then depth = depth + 1; i = k + 1\n"
    "      elseif depth > 0 and (b == 125 or b == 93) then depth = depth - 1; i = k + 1\n"
    "      elseif depth == 0 then\n"
    "        if vals[key] == nil then keys[#keys + 1] = key end\n"
    "        vals[key] = string.match(string.sub(s, start, k - 1), '^(.-)%s*$')\n"
    "        i = k\n"
    "        break\n"
    "      else i = k + 1 end\n"
    "    end\n"
    "  end\n"
    "  return keys, vals\n"
    "end\n"
    "local function merge(old, new)\n"
    "  local keys, vals = split(old)\n"
    "  local nkeys, nvals = split(new)\n"
    "  for _, k in ipairs(nkeys) do\n"
    "    if vals[k] == nil then keys[#keys + 1] = k end\n"
    "    vals[k] = nvals[k]\n"
    "  end\n"
    "  local parts = {}\n"
    "  for n, k in ipairs(keys) do parts[n] = k .. ':' .. vals[k] end\n"
    "  return '{' .. table.concat(parts, ',') .. '}'\n"
    "end\n"
    "local function stale(doc, vkey, expected)\n"
    "  local _, vals = split(doc)\n"
    "  return (tonumber(vals[vkey] or '') or 0) ~= tonumber(expected)\n"
    "end\n"
)

#: Lua helpers for ``__db_defaults__`` (after ``_JSON``).  ``iso_now()``: the server's time (``TIME``) as
#: the JSON text of an aware UTC ISO datetime with microseconds, ``"YYYY-MM-DDTHH:MM:SS.ffffff+00:00"``.
#: ``fill(at, mode, doc, cur)`` reads ARGV[at] = D, then D quadruples (field name, raw JSON key text,
#: kind 'time' | 'seq', position in KEYS of the field's sequence counter or 0): the fields the write
#: leaves None.  Each gets the stored object's value when ``cur`` holds one (not null) and the mode is
#: not 'ONLY' (set(only=) naming the field asks for a fresh one), else a fresh one: the server's time,
#: or the next number of its counter (INCR).  Returns the document with those values put in, and
#: {name, raw value, ...} (nil when D is 0).
_DEFAULTS = (
    "local function iso_now()\n"
    "  local t = redis.call('TIME')\n"
    "  local s, us = tonumber(t[1]), tonumber(t[2])\n"
    "  local days = math.floor(s / 86400)\n"
    "  local rem = s - days * 86400\n"
    "  local z = days + 719468\n"
    "  local era = math.floor(z / 146097)\n"
    "  local doe = z - era * 146097\n"
    "  local yoe = doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)\n"
    "  yoe = math.floor(yoe / 365)\n"
    "  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))\n"
    "  local mp = math.floor((5 * doy + 2) / 153)\n"
    "  local d = doy - math.floor((153 * mp + 2) / 5) + 1\n"
    "  local m = mp < 10 and mp + 3 or mp - 9\n"
    "  local y = yoe + era * 400\n"
    "  if m <= 2 then y = y + 1 end\n"
    "  return string.format('\"%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00\"', y, m, d,\n"
    "    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, us)\n"
    "end\n"
    "local function fill(at, mode, doc, cur)\n"
    "  local n = tonumber(ARGV[at])\n"
    "  if n == 0 then return doc, nil end\n"
    "  local old = nil\n"
    "  if cur and mode ~= 'ONLY' then\n"
    "    local _, vals = split(cur)\n"
    "    old = vals\n"
    "  end\n"
    "  local parts, out, now = {}, {}, nil\n"
    "  for i = 0, n - 1 do\n"
    "    local p = at + 1 + 4 * i\n"
    "    local key = ARGV[p + 1]\n"
    "    local value = old and old[key]\n"
    "    if not value or value == 'null' then\n"
    "      if ARGV[p + 2] == 'seq' then\n"
    "        value = string.format('%d', redis.call('INCR', KEYS[tonumber(ARGV[p + 3])]))\n"
    "      else\n"
    "        if not now then now = iso_now() end\n"
    "        value = now\n"
    "      end\n"
    "    end\n"
    "    parts[#parts + 1] = key .. ':' .. value\n"
    "    out[#out + 1] = ARGV[p]\n"
    "    out[#out + 1] = value\n"
    "  end\n"
    "  return merge(doc, '{' .. table.concat(parts, ',') .. '}'), out\n"
    "end\n"
)

#: One object's checked write on the JSON layout: ``set(only=...)``, versioned ``set()``, and every
#: write of a ``__unique__`` model.  KEYS: the object; for an indexed or unique model also its entries
#: hash, the schedule, the K index keys, then per unique field its claims and owned hashes.  ARGV:
#: mode ('FULL' = the whole document, 'XX' = the whole document of an object still stored, 'ONLY' =
#: the members to merge into the stored one, which must exist), document, px ('' = no expiry,
#: 'KEEP' = keep the TTL, else ms), pk, version key ('' = not versioned; its raw JSON text, e.g.
#: '"version"'), expected version, object key prefix, then the claims the write makes (U, then U
#: pairs: position in KEYS of a claims hash, text; see ``_UNIQUE``), then the ``__db_defaults__``
#: fields the write leaves None (D, then D quadruples, see ``_DEFAULTS``; their sequence counters
#: last in KEYS); for an indexed or unique model then T, the T index key positions the write owns
#: (from 0; their old entries go unless kept), and triples (position, score, member) of the new entries.
#: Returns 1 when written ({1, name, raw value, ...} when it filled db-default fields), 0 when ONLY/XX
#: found no object, -1 when the stored version is stale, {-2, i} when the i-th claim (from 0) is
#: another live object's value (nothing written).
PATCH = Script(
    _JSON + _UNIQUE + _DEFAULTS + "local mode, doc, px, pk, vkey = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if mode ~= 'FULL' and not cur then return 0 end\n"
    "if vkey ~= '' and cur and stale(cur, vkey, ARGV[6]) then return -1 end\n"
    "local clash = claim_all(8, pk, function(owner) return redis.call('EXISTS', ARGV[7] .. owner) == 1 end)\n"
    "if clash then return {-2, clash} end\n"
    "local dat = 9 + 2 * tonumber(ARGV[8])\n"
    "local filled\n"
    "doc, filled = fill(dat, mode, doc, cur)\n"
    "if mode == 'ONLY' then doc = merge(cur, doc) end\n"
    "local base = dat + 1 + 4 * tonumber(ARGV[dat])\n"
    "local indexed = #ARGV >= base\n"
    "if indexed then\n"
    "  local first = base + 1 + tonumber(ARGV[base])\n"
    "  local old = redis.call('HGETALL', KEYS[2])\n"
    "  local prev, new, changed = {}, {}, {}\n"
    "  for i = 1, #old, 2 do prev[old[i]] = old[i + 1] end\n"
    "  for i = first, #ARGV, 3 do new[KEYS[4 + tonumber(ARGV[i])]] = ARGV[i + 2] end\n"
    "  for i = base + 1, first - 1 do\n"
    "    local key = KEYS[4 + tonumber(ARGV[i])]\n"
    "    local was = prev[key]\n"
    "    if was and new[key] ~= was then\n"
    "      redis.call('ZREM', key, was)\n"
    "      if not new[key] then redis.call('HDEL', KEYS[2], key) end\n"
    "    end\n"
    "  end\n"
    "  for i = first, #ARGV, 3 do\n"
    "    local key, member = KEYS[4 + tonumber(ARGV[i])], ARGV[i + 2]\n"
    "    local was = prev[key]\n"
    "    if was ~= member then\n"
    "      changed[#changed + 1] = key\n"
    "      changed[#changed + 1] = member\n"
    "    end\n"
    "    if was ~= member or ARGV[i + 1] ~= '0' then redis.call('ZADD', key, ARGV[i + 1], member) end\n"
    "  end\n"
    "  if #changed > 0 then redis.call('HSET', KEYS[2], unpack(changed)) end\n"
    "end\n"
    "if px == 'KEEP' then\n"
    "  redis.call('SET', KEYS[1], doc, 'KEEPTTL')\n"
    "elseif px == '' then\n"
    "  redis.call('SET', KEYS[1], doc)\n"
    "  if indexed then redis.call('ZREM', KEYS[3], pk) end\n"
    "else\n"
    "  redis.call('SET', KEYS[1], doc, 'PX', px)\n"
    "  if indexed then\n" + _NOW + "    redis.call('ZADD', KEYS[3], now + tonumber(px), pk)\n"
    "  end\n"
    "end\n"
    "if filled then return {1, unpack(filled)} end\n"
    "return 1\n"
)

#: The same on the hash layout.  KEYS: the hash, then per ``__unique__`` field its claims and owned
#: hashes.  ARGV: mode ('FULL' | 'ONLY'), field, document, px of the hash ('' = leave its TTL),
#: version key ('' = not versioned), expected version, pk, field prefix (a field is prefix .. pk),
#: then the claims (U, then U pairs, as for ``PATCH``), then the ``__db_defaults__`` fields the write
#: leaves None (D, then D quadruples, as for ``PATCH``; their sequence counters last in KEYS, which
#: never expire).  The claim hashes take the hash's TTL.
#: Returns 1 when written ({1, name, raw value, ...} when it filled db-default fields), 0 when ONLY
#: found no object, -1 when the stored version is stale, {-2, i} when the i-th claim is another live
#: object's value (nothing written).
HASH_PATCH = Script(
    _JSON + _UNIQUE + _DEFAULTS + "local mode, field, doc, px, vkey = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
    "local cur = redis.call('HGET', KEYS[1], field)\n"
    "if mode == 'ONLY' and not cur then return 0 end\n"
    "if vkey ~= '' and cur and stale(cur, vkey, ARGV[6]) then return -1 end\n"
    "local clash = claim_all(9, ARGV[7], function(owner)\n"
    "  return redis.call('HEXISTS', KEYS[1], ARGV[8] .. owner) == 1\n"
    "end)\n"
    "if clash then return {-2, clash} end\n"
    "local dat = 10 + 2 * tonumber(ARGV[9])\n"
    "local filled\n"
    "doc, filled = fill(dat, mode, doc, cur)\n"
    "if mode == 'ONLY' then doc = merge(cur, doc) end\n"
    "redis.call('HSET', KEYS[1], field, doc)\n"
    "if px ~= '' then redis.call('PEXPIRE', KEYS[1], px) end\n"
    "local last = #KEYS\n"
    "for i = 0, tonumber(ARGV[dat]) - 1 do\n"
    "  local s = tonumber(ARGV[dat + 4 + 4 * i])\n"
    "  if s > 0 and s <= last then last = s - 1 end\n"
    "end\n"
    "if last > 1 then\n"
    "  local t = redis.call('PTTL', KEYS[1])\n"
    "  for i = 2, last do\n"
    "    if t > 0 then redis.call('PEXPIRE', KEYS[i], t) else redis.call('PERSIST', KEYS[i]) end\n"
    "  end\n"
    "end\n"
    "if filled then return {1, unpack(filled)} end\n"
    "return 1\n"
)

#: Deletes objects of the hash layout with their unique claims.  KEYS: the hash, then per
#: ``__unique__`` field its claims and owned hashes.  ARGV: field prefix, then pks.  Returns how many
#: objects were removed (the claims of a pk not in the hash are released too: they were stale).
HASH_DELETE = Script(
    _UNIQUE + "local n = 0\n"
    "for a = 2, #ARGV do\n"
    "  n = n + redis.call('HDEL', KEYS[1], ARGV[1] .. ARGV[a])\n"
    "  for i = 2, #KEYS, 2 do release(KEYS[i], KEYS[i + 1], ARGV[a]) end\n"
    "end\n"
    "return n\n"
)

#: Removes stale claims of one ``__unique__`` field of the hash layout.  KEYS: the hash, the claims
#: hash, the owned hash.  ARGV: field prefix, then pks (from the owned hash).  Returns the pks whose
#: object is no longer in the hash (their claims removed).
HASH_PRUNE = Script(
    _UNIQUE + "local out = {}\n"
    "for a = 2, #ARGV do\n"
    "  if redis.call('HEXISTS', KEYS[1], ARGV[1] .. ARGV[a]) == 0 then\n"
    "    release(KEYS[2], KEYS[3], ARGV[a])\n"
    "    out[#out + 1] = ARGV[a]\n"
    "  end\n"
    "end\n"
    "return out\n"
)
