"""The admin key endpoints over the key service: create (the key shown once), list, revoke,
rotate. No HTTP here; the `admin` scope is checked by the auth middleware."""

from __future__ import annotations

import time
from typing import Any

from inferstack.errors import InferstackError, NotFound
from inferstack.keys.service import KeyService
from inferstack.serving.protocol import CreateKeyRequest


class KeyEndpoints:
    def __init__(self, keys: KeyService | None) -> None:
        self.keys = keys

    def _service(self) -> KeyService:
        if self.keys is None:
            raise InferstackError(
                "stored keys need auth on (auth.api_keys or auth.require_keys)",
                status=503,
                code="stage_disabled",
            )
        return self.keys

    async def create(self, body: CreateKeyRequest) -> dict[str, Any]:
        expires = None if body.expires_in_days is None else time.time() + body.expires_in_days * 86400
        record, key = await self._service().create(
            body.tenant, body.name,
            endpoints=None if body.endpoints is None else tuple(body.endpoints),
            models=None if body.models is None else tuple(body.models),
            limits=body.limits, expires_at=expires,
        )  # fmt: skip
        return {**record.public(), "key": key}

    async def list(self, tenant: str | None) -> dict[str, Any]:
        return {"object": "list", "data": await self._service().list(tenant)}

    async def revoke(self, key_id: str) -> dict[str, Any]:
        if not await self._service().revoke(key_id):
            raise NotFound(f"no active key {key_id!r}", param="key_id")
        return {"id": key_id, "revoked": True}

    async def rotate(self, key_id: str) -> dict[str, Any]:
        rotated = await self._service().rotate(key_id)
        if rotated is None:
            raise NotFound(f"no active key {key_id!r}", param="key_id")
        record, key = rotated
        return {**record.public(), "key": key, "replaces": key_id}
