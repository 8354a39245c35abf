"""Partners: who may present credentials, and the verifier for each kind of credential."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bridge.identity import (
    Claims,
    ExternalIdentity,
    developer_claims,
    federated_uid,
    normalised_email,
    unmatched_claim,
)
from bridge.infra.outbound import Outbound
from bridge.partners.base import Credential, Presented, Verifier
from bridge.partners.config import JwtRules, PartnerConfig, RouteConfig
from bridge.store.attempts import Counter, invalid_key

log = logging.getLogger("bridge.partners")


@dataclass(frozen=True, slots=True)
class Partner:
    """One configured partner: its settings (whose class is its kind) and its verifier."""

    id: str
    config: PartnerConfig
    verifier: Verifier

    @property
    def single_use(self) -> bool:
        return self.config.is_single_use

    @property
    def leeway_seconds(self) -> int:
        return self.config.token_leeway_seconds

    @property
    def tenant_id(self) -> str | None:
        return self.config.tenant_id

    @property
    def route(self) -> RouteConfig | None:
        return self.config.route

    @property
    def allowed_origins(self) -> list[str]:
        """Browser origins that may call this partner's login (CORS)."""
        return list(self.config.allowed_origins)

    @property
    def mapped_claim_names(self) -> tuple[str, ...]:
        """The developer claims mapped from the partner's credential (their Firebase names)."""
        return tuple(self.config.claims)

    @property
    def firebase_user_policy(self) -> Literal["on_sign_in", "on_first_login"]:
        return self.config.firebase_user

    @property
    def makes_firebase_user_on_first_login(self) -> bool:
        return self.config.firebase_user == "on_first_login"

    def uid_for(self, identity: ExternalIdentity) -> str:
        return self.uid_for_external(identity.external_id)

    def uid_for_external(self, external_id: str) -> str:
        return federated_uid(self.id, external_id, self.config.uid_format)

    @property
    def ids_are_emails(self) -> bool:
        """This partner's user ids are email addresses (normalised, see identity.normalised_email)."""
        return self.config.identity_paths.id_is_email

    @property
    def user_id_path(self) -> str:
        """Where the partner's credential (claims or login answer) has the user id."""
        return self.config.identity_paths.user_id

    def external_id_of(self, external_id: str) -> str:
        """An external id as this partner's logins store it (emails normalised)."""
        if self.ids_are_emails:
            return normalised_email(external_id, self.config.casefold_email_local_part)
        return external_id

    def developer_claims(self, identity: ExternalIdentity) -> dict[str, Any]:
        return developer_claims(identity, self.config.claims, self.config.static_claims)

    # --- credentials --------------------------------------------------------------------------
    @property
    def credential_fields(self) -> tuple[str, ...]:
        """bridge's names of the request fields this partner's credential is made of."""
        return self.config.credential_fields

    def credential_from(self, presented: Presented) -> Credential:
        """The credential a request presents; CredentialIncomplete says what is missing."""
        return self.config.credential_from(presented)

    def invalid_counter(self, client_address: str) -> Counter:
        """Invalid credentials from one address to this partner (every kind of credential)."""
        return Counter(
            invalid_key(self.id, client_address),
            self.config.max_invalid_per_address,
            self.config.invalid_window_seconds,
        )

    def failure_counters(self, credential: Credential, client_address: str) -> list[Counter]:
        """Counters reserved before `credential` is verified (password guessing): [] for tokens."""
        return self.config.failure_counters(self.id, credential, client_address)

    # --- browser redirect login and admin access ------------------------------------------------
    @property
    def redirect_rules(self) -> JwtRules | None:
        """The redirect login's rules (targets, token and error parameters); None: no redirect login."""
        return self.config.redirect_rules()

    async def signed_claims(self, token: str) -> dict[str, Any] | None:
        """Claims of a token this partner signed, even if refused: only to choose an error page."""
        return await self.verifier.signed_claims(token)

    @property
    def grants_admin(self) -> bool:
        """Some of this partner's tokens are admin credentials (it has admin_claims)."""
        return bool(self.config.admin_requirements)

    def is_admin(self, claims: Claims) -> bool:
        """These verified claims carry every admin claim this partner requires."""
        return self.grants_admin and unmatched_claim(claims, self.config.admin_requirements) is None


def tenant_of(partners: dict[str, Partner] | Mapping[str, Partner], partner_id: str | None) -> str | None:
    """The Identity Platform tenant of a partner's users; None for an unknown partner or none set."""
    # (dict is named as well: mypy infers `request.app[PARTNERS]`'s key from the expected type)
    partner = partners.get(partner_id or "")
    return partner.tenant_id if partner is not None else None


def warn_about_relaxed_claims(configs: Mapping[str, PartnerConfig]) -> None:
    """require_issuer / require_audience = false is allowed, but never silently (RFC 8725 3.8-3.10)."""
    for partner_id, config in configs.items():
        relaxed = config.relaxed_claims()
        if relaxed:
            log.warning(
                "partner accepts tokens without iss/aud: any token signed with its key is accepted "
                "for bridge, whatever service it was made for; keep that key for bridge alone",
                extra={"partner": partner_id, "relaxed": ",".join(relaxed)},
            )


def build_partners(configs: Mapping[str, PartnerConfig], outbound: Outbound) -> dict[str, Partner]:
    """Load every partner's keys once; raises ConfigError naming the partner and field."""
    warn_about_relaxed_claims(configs)
    return {
        partner_id: Partner(partner_id, config, config.build_verifier(partner_id, outbound))
        for partner_id, config in configs.items()
    }
