"""Partners: who may present credentials, and the verifier for each kind of credential."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.identity import ExternalIdentity, developer_claims, federated_uid, normalised_email
from bridge.infra.outbound import Outbound
from bridge.partners.base import Verifier
from bridge.partners.config import (
    JwtPartnerConfig,
    OidcPartnerConfig,
    PartnerConfig,
    PasswordPartnerConfig,
)
from bridge.partners.jwks import JwksKeySet, TrustedKey
from bridge.partners.jwt_token import JwtVerifier, KeySource, SingleKey
from bridge.partners.keys import load_verification_key
from bridge.partners.oidc import OidcDiscovery
from bridge.partners.password import PasswordVerifier
from bridge.store.attempts import Counter, LoginAttempts, invalid_key

log = logging.getLogger("bridge.partners")


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    config: PartnerConfig
    verifier: Verifier

    @property
    def single_use(self) -> bool:
        return getattr(self.config, "single_use", False) is True

    @property
    def leeway_seconds(self) -> int:
        return int(getattr(self.config, "leeway_seconds", 0))

    def uid_for(self, identity: ExternalIdentity) -> str:
        return self.uid_for_external(identity.external_id)

    def uid_for_external(self, external_id: str) -> str:
        return federated_uid(self.id, external_id, self.config.uid_format)

    @property
    def ids_are_emails(self) -> bool:
        """This partner's user ids are email addresses (normalised, see identity.normalised_email)."""
        config = self.config
        if isinstance(config, PasswordPartnerConfig):
            return config.user_id_path == config.email_path
        return config.user_id_claim in (config.email_claim, "email")

    def external_id_of(self, external_id: str) -> str:
        """An external id as this partner's logins store it (emails normalised)."""
        if self.ids_are_emails:
            return normalised_email(external_id, self.config.casefold_email_local_part)
        return external_id

    def invalid_counter(self, client_address: str) -> Counter:
        """Invalid credentials from one address to this partner (every kind of credential)."""
        return Counter(
            invalid_key(self.id, client_address),
            self.config.max_invalid_per_address,
            self.config.invalid_window_seconds,
        )

    def developer_claims(self, identity: ExternalIdentity) -> dict[str, Any]:
        return developer_claims(identity, self.config.claims, self.config.static_claims)


def _key_source(
    partner_id: str, config: JwtPartnerConfig | OidcPartnerConfig, outbound: Outbound
) -> KeySource:
    if isinstance(config, OidcPartnerConfig):
        discovery = OidcDiscovery(config.issuer, outbound, config.fetch_timeout_seconds)
        return JwksKeySet(partner_id, discovery.jwks_uri, config, config.algorithms, outbound)
    if config.jwks_url is not None:
        url = config.jwks_url

        async def fixed_url() -> str:
            return url

        return JwksKeySet(partner_id, fixed_url, config, config.algorithms, outbound)
    key = load_verification_key(partner_id, config)
    return SingleKey(TrustedKey(None, key, frozenset(config.algorithms)))


def build_verifier(
    partner_id: str, config: PartnerConfig, outbound: Outbound, attempts: LoginAttempts
) -> Verifier:
    if isinstance(config, PasswordPartnerConfig):
        return PasswordVerifier(partner_id, config, outbound, attempts)
    return JwtVerifier(partner_id, config, _key_source(partner_id, config, outbound))


def warn_about_relaxed_claims(configs: Mapping[str, PartnerConfig]) -> None:
    """require_issuer / require_audience = false is allowed, but never silently (RFC 8725 3.8-3.10)."""
    for partner_id, config in configs.items():
        if not isinstance(config, JwtPartnerConfig):
            continue
        relaxed = [name for name in ("require_issuer", "require_audience") if not getattr(config, name)]
        if relaxed:
            log.warning(
                "partner accepts tokens without iss/aud: any token signed with its key is accepted "
                "for bridge, whatever service it was made for; keep that key for bridge alone",
                extra={"partner": partner_id, "relaxed": ",".join(relaxed)},
            )


def build_partners(
    configs: Mapping[str, PartnerConfig], outbound: Outbound, attempts: LoginAttempts
) -> dict[str, Partner]:
    """Load every partner's keys once; raises ConfigError naming the partner and field."""
    warn_about_relaxed_claims(configs)
    return {
        partner_id: Partner(partner_id, config, build_verifier(partner_id, config, outbound, attempts))
        for partner_id, config in configs.items()
    }
