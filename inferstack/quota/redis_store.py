"""Quotas counted in Redis: each decision is one Lua script, so checks and updates are atomic
across every gateway replica, and the clock is Redis' own (`TIME`), so replicas whose clocks
differ still refill buckets alike. Keys expire by themselves when a subject goes quiet."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from inferstack.quota.store import Grant, Periods, QuotaStore, Standing, Subject, refused

_LEVEL = """
local function level(key, cap, now)
  local v = redis.call('HMGET', key, 'l', 't')
  if not v[1] then return cap end
  local l = tonumber(v[1]) + (now - tonumber(v[2])) * cap / 60000
  if l > cap then return cap end
  return l
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
"""

# KEYS per subject: request bucket, token bucket, lease set, day spend, month spend.
# ARGV: n, lease, tokens, lease_ms, then per subject: rpm, tpm, concurrent, day, month (-1: none).
# Refused: {0, subject index, kind, wait ms or -1}. Admitted: {1, then per subject five strings:
# requests left, requests reset ms, tokens left, tokens reset ms, nano-USD left ('n': no limit)}.
_ADMIT = (
    _LEVEL
    + """
local now = clock()
local n, lease, tokens, lease_ms = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local levels = {}
for i = 0, n - 1 do
  local k, a = i * 5, 5 + i * 5
  local rpm, tpm, conc = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local day, month = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if rpm > 0 then
    local l = level(KEYS[k + 1], rpm, now)
    if l < 1 then return {0, i, 'requests', tostring((1 - l) * 60000 / rpm)} end
    levels[k + 1] = l
  end
  if tpm > 0 then
    if tokens > tpm then return {0, i, 'tokens', '-1'} end
    local l = level(KEYS[k + 2], tpm, now)
    if l < tokens then return {0, i, 'tokens', tostring((tokens - l) * 60000 / tpm)} end
    levels[k + 2] = l
  end
  if conc > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now)
    if redis.call('ZCARD', KEYS[k + 3]) >= conc then return {0, i, 'concurrent_requests', '1000'} end
  end
  if day >= 0 and tonumber(redis.call('GET', KEYS[k + 4]) or '0') >= day then
    return {0, i, 'usd_per_day', '-1'}
  end
  if month >= 0 and tonumber(redis.call('GET', KEYS[k + 5]) or '0') >= month then
    return {0, i, 'usd_per_month', '-1'}
  end
end
local out = {1}
for i = 0, n - 1 do
  local k, a = i * 5, 5 + i * 5
  local caps = {tonumber(ARGV[a]), tonumber(ARGV[a + 1])}
  local costs = {1, tokens}
  for j = 1, 2 do
    if caps[j] > 0 then
      local l = levels[k + j] - costs[j]
      redis.call('HSET', KEYS[k + j], 'l', tostring(l), 't', tostring(now))
      redis.call('PEXPIRE', KEYS[k + j], 120000)
      table.insert(out, tostring(l))
      table.insert(out, tostring((caps[j] - l) * 60000 / caps[j]))
    else
      table.insert(out, 'n')
      table.insert(out, 'n')
    end
  end
  if tonumber(ARGV[a + 2]) > 0 then
    redis.call('ZADD', KEYS[k + 3], now + lease_ms, lease)
    redis.call('PEXPIRE', KEYS[k + 3], lease_ms)
  end
  local left = nil
  for j = 4, 5 do
    local limit = tonumber(ARGV[a + j - 1])
    if limit >= 0 then
      local rest = limit - tonumber(redis.call('GET', KEYS[k + j]) or '0')
      if left == nil or rest < left then left = rest end
    end
  end
  table.insert(out, left == nil and 'n' or tostring(left))
end
return out
"""
)

# KEYS per budgeted subject: day spend, month spend. ARGV: n, nano-USD, then per subject: day,
# month (-1: none). Refused: {0, index, kind}; else {1}.
_RESERVE_USD = """
local n, usd = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 0, n - 1 do
  local kinds = {'usd_per_day', 'usd_per_month'}
  for j = 1, 2 do
    local limit = tonumber(ARGV[2 + i * 2 + j])
    if limit >= 0 and tonumber(redis.call('GET', KEYS[i * 2 + j]) or '0') + usd > limit then
      return {0, i, kinds[j]}
    end
  end
end
for i = 1, n * 2 do
  redis.call('INCRBY', KEYS[i], usd)
  redis.call('EXPIRE', KEYS[i], 35 * 86400)
end
return {1}
"""

# KEYS per subject: token bucket, lease set; then day and month spend per budgeted subject.
# ARGV: n, budgeted, lease, token delta, nano-USD delta, then per subject its tokens/minute (-1).
_SETTLE = (
    _LEVEL
    + """
local now = clock()
local n, budgeted, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local dtok, dusd = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 0, n - 1 do
  local tpm = tonumber(ARGV[6 + i])
  if tpm > 0 and dtok ~= 0 and redis.call('EXISTS', KEYS[i * 2 + 1]) == 1 then
    local l = math.min(tpm, level(KEYS[i * 2 + 1], tpm, now) - dtok)
    redis.call('HSET', KEYS[i * 2 + 1], 'l', tostring(l), 't', tostring(now))
  end
  redis.call('ZREM', KEYS[i * 2 + 2], lease)
end
if dusd ~= 0 then
  for i = 1, budgeted * 2 do
    redis.call('INCRBY', KEYS[n * 2 + i], dusd)
    redis.call('EXPIRE', KEYS[n * 2 + i], 35 * 86400)
  end
end
return 1
"""
)


def _num(value: Any) -> float | None:
    text = value.decode() if isinstance(value, bytes) else str(value)
    return None if text == "n" else float(text)


def _limit(value: int | float | None) -> int | float:
    return -1 if value is None else value


class RedisQuotaStore(QuotaStore):
    name = "redis"

    def __init__(self, client: aioredis.Redis, prefix: str = "inferstack:q:") -> None:
        self.client = client
        self.prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._reserve = client.register_script(_RESERVE_USD)
        self._settle = client.register_script(_SETTLE)

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> RedisQuotaStore:
        client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30
        )
        return cls(client)

    def _spend_keys(self, subject: Subject, periods: Periods) -> list[str]:
        return [
            f"{self.prefix}s:{subject.name}:{periods.day}",
            f"{self.prefix}s:{subject.name}:{periods.month}",
        ]

    async def admit(self, subjects: tuple[Subject, ...], tokens: int, lease: str, lease_s: float) -> Grant:
        periods = Periods.now()
        keys: list[str] = []
        args: list[Any] = [len(subjects), lease, tokens, int(lease_s * 1000)]
        for subject in subjects:
            limits = subject.limits
            keys += [f"{self.prefix}b:{subject.name}:requests", f"{self.prefix}b:{subject.name}:tokens"]
            keys.append(f"{self.prefix}l:{subject.name}")
            keys += self._spend_keys(subject, periods)
            day, month = subject.spend_limits_nano()
            args += [
                _limit(limits.requests_per_minute), _limit(limits.tokens_per_minute),
                _limit(limits.concurrent_requests), _limit(day), _limit(month),
            ]  # fmt: skip
        reply = await self._admit(keys=keys, args=args)
        if int(reply[0]) == 0:
            kind = reply[2].decode()
            wait = float(reply[3])
            raise refused(subjects[int(reply[1])], kind, None if wait < 0 else wait, periods, tokens)
        standing = []
        for i in range(len(subjects)):
            values = [_num(v) for v in reply[1 + i * 5 : 6 + i * 5]]
            usd_left = None if values[4] is None else values[4] / 1e9
            standing.append(Standing(values[0], values[1], values[2], values[3], usd_left))
        return Grant(lease, subjects, tokens, periods, standing, self)

    async def reserve_usd(self, grant: Grant, usd_nano: int) -> None:
        budgeted = grant.budgeted
        keys = [k for s in budgeted for k in self._spend_keys(s, grant.periods)]
        args: list[Any] = [len(budgeted), usd_nano]
        for subject in budgeted:
            args += [_limit(x) for x in subject.spend_limits_nano()]
        reply = await self._reserve(keys=keys, args=args)
        if int(reply[0]) == 0:
            raise refused(budgeted[int(reply[1])], reply[2].decode(), None, grant.periods, grant.tokens)
        grant.usd_nano += usd_nano

    async def settle(self, grant: Grant, tokens: int, usd_nano: int) -> None:
        keys: list[str] = []
        for subject in grant.subjects:
            keys += [f"{self.prefix}b:{subject.name}:tokens", f"{self.prefix}l:{subject.name}"]
        budgeted = grant.budgeted
        keys += [k for s in budgeted for k in self._spend_keys(s, grant.periods)]
        args: list[Any] = [len(grant.subjects), len(budgeted), grant.lease, tokens - grant.tokens]
        args.append(usd_nano - grant.usd_nano)
        args += [_limit(s.limits.tokens_per_minute) for s in grant.subjects]
        await self._settle(keys=keys, args=args)

    async def aclose(self) -> None:
        await self.client.aclose()
