"""`inferstack keys create|list|revoke|rotate`: stored API keys, written straight to the key
store the gateway reads (so a gateway that shares the database sees a revocation within its
cache time, 1 s). A created key is printed once; only its HMAC digest is kept."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from inferstack.cli.common import batch_settings
from inferstack.config.cache import CacheLayout
from inferstack.config.quotas import Limits
from inferstack.keys.service import ENDPOINTS, TENANT, KeyService, open_keys

T = TypeVar("T")


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="stored API keys (isk-...): create, list, revoke, rotate")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="make a key (printed once) for a tenant")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="", help="a label for people (shown by `list`)")
    create.add_argument("--endpoints", help=f"comma-separated scopes from {', '.join(ENDPOINTS)} "
                        "(default: all but admin)")  # fmt: skip
    create.add_argument("--models", help="comma-separated deployments (and `auto`) it may use (default: all)")
    create.add_argument("--expires-days", type=float, help="expires after this many days (default: never)")
    for flag, field in (("--rpm", "requests_per_minute"), ("--tpm", "tokens_per_minute"),
                        ("--concurrent", "concurrent_requests")):  # fmt: skip
        create.add_argument(flag, type=int, dest=field, help=f"this key's own {field.replace('_', ' ')}")
    create.add_argument("--usd-per-day", type=float, dest="usd_per_day")
    create.add_argument("--usd-per-month", type=float, dest="usd_per_month")
    create.set_defaults(func=cmd_create)
    listing = keys_sub.add_parser("list", help="keys as JSON Lines (never the key itself)")
    listing.add_argument("--tenant")
    listing.set_defaults(func=cmd_list)
    actions = (
        ("revoke", cmd_revoke, "revoke a key (every gateway refuses it within 1 s)"),
        ("rotate", cmd_rotate, "a new key with the same scopes; the old one revoked"),
    )
    for name, func, text in actions:
        action = keys_sub.add_parser(name, help=text)
        action.add_argument("key_id", help="the key's id (key_...)")
        action.set_defaults(func=func)
    for parser in (create, listing, *keys_sub.choices.values()):
        if not any(a.dest == "config" for a in parser._actions):
            parser.add_argument("--config", help="YAML config file")


def _with_keys(args: argparse.Namespace, work: Callable[[KeyService], Awaitable[T]]) -> T:
    settings = batch_settings(args)

    async def run() -> T:
        keys = await open_keys(settings, CacheLayout(settings.cache_dir).ensure())
        try:
            return await work(keys)
        finally:
            await keys.close()

    return asyncio.run(run())


def _split(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def cmd_create(args: argparse.Namespace) -> int:
    endpoints = _split(args.endpoints)
    unknown = sorted(set(endpoints or ()) - set(ENDPOINTS))
    if unknown:
        print(f"--endpoints: unknown {unknown}; known: {', '.join(ENDPOINTS)}")
        return 2
    limits = Limits(**{f: getattr(args, f) for f in Limits.model_fields if getattr(args, f) is not None})
    expires = None if args.expires_days is None else time.time() + args.expires_days * 86400
    models = _split(args.models)
    if not TENANT.match(args.tenant):
        print(f"--tenant: {args.tenant!r} is not 1-64 of A-Z a-z 0-9 . _ -")
        return 2
    record, key = _with_keys(args, lambda keys: keys.create(
        args.tenant, args.name, endpoints=endpoints, models=models, limits=limits, expires_at=expires,
    ))  # fmt: skip
    print(orjson.dumps({**record.public(), "key": key}).decode())
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for entry in _with_keys(args, lambda keys: keys.list(args.tenant)):
        print(orjson.dumps(entry).decode())
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    if not _with_keys(args, lambda keys: keys.revoke(args.key_id)):
        print(f"no active key {args.key_id}")
        return 1
    print(orjson.dumps({"id": args.key_id, "revoked": True}).decode())
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    rotated = _with_keys(args, lambda keys: keys.rotate(args.key_id))
    if rotated is None:
        print(f"no active key {args.key_id}")
        return 1
    record, key = rotated
    print(orjson.dumps({**record.public(), "key": key, "replaces": args.key_id}).decode())
    return 0
