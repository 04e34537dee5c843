"""Who is calling: the result of authenticating a bearer credential.

Two kinds exist in the product (PRODUCT.md §3): tenant API keys (`yt_live_…`, scopes) and per-call
callback tokens (`yt_cb_<ULID>`, only `voice_agent:control`, bound to one call). Both resolve to a
`Principal`; route code asks it for scopes and the tenant, never for the kind of credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from yotel.domain.errors import PermissionDenied
from yotel.domain.scopes import allows


class CredentialKind(StrEnum):
    API_KEY = "api_key"
    CALLBACK_TOKEN = "callback_token"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    kind: CredentialKind
    credential_id: str
    scopes: frozenset[str]
    # Set for callback tokens only: the one call this credential may act on.
    call_id: str | None = None
    # When the credential stops being valid by itself (callback tokens); None: until revoked.
    expires_at: datetime | None = None

    def has_scope(self, scope: str) -> bool:
        return allows(self.scopes, scope)

    def require(self, scope: str) -> None:
        """Raise `PermissionDenied` (403) unless this principal holds `scope`."""
        if not self.has_scope(scope):
            raise PermissionDenied(f"this credential lacks the {scope!r} scope")
