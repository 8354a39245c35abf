"""Partners: who may present credentials, and the verifier for each kind of credential."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.identity import ExternalIdentity, developer_claims, federated_uid
from bridge.partners.base import Verifier
from bridge.partners.config import JwtPartnerConfig, PartnerConfig
from bridge.partners.jwt_token import JwtVerifier
from bridge.partners.keys import load_verification_key


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    config: PartnerConfig
    verifier: Verifier

    def uid_for(self, identity: ExternalIdentity) -> str:
        return federated_uid(self.id, identity.external_id, self.config.uid_format)

    def developer_claims(self, identity: ExternalIdentity) -> dict[str, Any]:
        return developer_claims(identity, self.config.claims, self.config.static_claims)


def build_verifier(partner_id: str, config: PartnerConfig) -> Verifier:
    if isinstance(config, JwtPartnerConfig):
        return JwtVerifier(partner_id, config, load_verification_key(partner_id, config))
    raise TypeError(f"no verifier for partner kind {config.kind!r}")


def build_partners(configs: Mapping[str, PartnerConfig]) -> dict[str, Partner]:
    """Load every partner's keys once; raises ConfigError naming the partner and field."""
    return {
        partner_id: Partner(partner_id, config, build_verifier(partner_id, config))
        for partner_id, config in configs.items()
    }
