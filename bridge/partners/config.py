"""The partners file: one TOML table per partner, validated once at start-up.

A mistake fails start-up with a message naming the partner and the field, e.g.
``partners.toml: partner 'acme', field 'algorithms': 'none' is never allowed``.
"""

from __future__ import annotations

import os
import re
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.identity import ClaimRule, ScalarClaim, reserved_claim_names
from bridge.infra.outbound import Outbound
from bridge.partners.base import (
    Credential,
    CredentialIncomplete,
    PartnerToken,
    PasswordLogin,
    Presented,
    Verifier,
)
from bridge.partners.checks import (
    EC_ALGORITHMS,
    HMAC_ALGORITHMS,
    RSA_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    HttpsUrl,
    is_loopback,
)
from bridge.partners.checks import ConfigError as ConfigError  # re-exported: the partners file's error
from bridge.partners.claims import IdentityPaths
from bridge.partners.jwks import JwksKeySet, KeySetRules, TrustedKey
from bridge.partners.jwt_token import JwtVerifier, SingleKey
from bridge.partners.keys import load_verification_key
from bridge.partners.oidc import OidcDiscovery
from bridge.partners.password import PasswordVerifier
from bridge.store.attempts import Counter, address_key, user_key

PARTNER_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"

ClaimValue = str | int | float | bool


# Paths bridge serves itself: a partner route may not be one of them, nor lie under the prefixes.
RESERVED_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/admin"})
RESERVED_PREFIXES = ("/v1/", "/admin/")
# Which request fields a route's `fields` may rename, per kind of credential.
ROUTE_FIELD_NAMES = frozenset({"username", "password", "token"})
_ROUTE_PATH = re.compile(r"^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def _check_origin(value: str) -> str:
    if value == "*":
        raise ValueError("'*' is not allowed: list each origin (scheme://host[:port])")
    if not _ORIGIN.fullmatch(value):
        raise ValueError(f"{value!r} is not an origin: scheme://host[:port], no path")
    if value.startswith("http://") and not is_loopback(urlsplit(value).hostname):
        raise ValueError(f"{value!r}: http origins are allowed only for loopback addresses")
    return value.lower()


Origin = Annotated[str, AfterValidator(_check_origin)]


class RouteConfig(BaseModel):
    """`[partners.X.route]`: the partner's own login route, answering in its platform's contract.

    `bridge` answers like POST /v1/login, `flutterflow` like FlutterFlow's JWT login API, `strapi`
    like Strapi's `/api/auth/local` (`{jwt, user}`), `redirect` is a GET browser redirect login
    (DeveloperHub style). `fields` renames the request fields: `{ username = "email" }`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    contract: Literal["bridge", "flutterflow", "strapi", "redirect"] = "bridge"
    fields: dict[str, str] = Field(default_factory=dict)

    @field_validator("path")
    @classmethod
    def _free_path(cls, value: str) -> str:
        if not _ROUTE_PATH.fullmatch(value):
            raise ValueError("must be an absolute path of A-Z a-z 0-9 . _ ~ - segments, e.g. /login")
        if any(segment in (".", "..") for segment in value.split("/")):
            raise ValueError("must not contain . or .. segments")
        if value in RESERVED_PATHS or value.startswith(RESERVED_PREFIXES):
            raise ValueError(f"{value} is a path bridge itself uses; pick another (e.g. /login)")
        return value

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - ROUTE_FIELD_NAMES)
        if unknown:
            raise ValueError(f"unknown field names {', '.join(unknown)}; use username, password, token")
        for name in value.values():
            if not _FIELD_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a usable JSON field name")
        if len(set(value.values())) != len(value):
            raise ValueError("two fields cannot share one request name")
        return value

    def field_names(self, wanted: tuple[str, ...]) -> dict[str, str]:
        """bridge's field -> the request's field for the `wanted` credential fields, defaults
        filled in per contract."""
        username = {"flutterflow": "email", "strapi": "identifier"}.get(self.contract, "username")
        defaults = {"username": username, "password": "password", "token": "token"}
        return {name: self.fields.get(name, defaults[name]) for name in wanted}


class PartnerBase(BaseModel, ABC):
    """What every kind of partner shares: how its users become Firebase users. Each kind says how
    it behaves (the credential it takes, its verifier, redirect and admin rules): chosen once, when
    the partners file is parsed, by the class its `kind` names."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # The request fields its credential is made of (bridge's names; a route may rename them).
    credential_fields: ClassVar[tuple[str, ...]]

    display_name: str | None = None
    # The Firebase uid; `{partner}` and `{external_id}` are replaced. Over 128 characters it is
    # replaced by `{partner}:sha256:<hex digest of external_id>`, as is a uid that has that shape
    # (see identity.federated_uid).
    uid_format: str = "{partner}:{external_id}"
    # Developer claims in the custom token: Firebase claim name -> claim name in the partner's
    # credential (dotted paths reach into nested objects).
    claims: dict[str, str] = Field(default_factory=dict)
    # Developer claims with fixed values, added to every custom token of this partner.
    static_claims: dict[str, ClaimValue] = Field(default_factory=dict)
    # An Identity Platform tenant: this partner's custom tokens, sessions and accounts live there.
    tenant_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] | None = None
    # Guessing from one address: invalid credentials (bad or forged tokens, replays, wrong
    # passwords) allowed per client address within the window; beyond that the address gets 429
    # with Retry-After until the window ends, whatever it sends. Other addresses are unaffected.
    max_invalid_per_address: int = Field(30, ge=1, le=100000)
    invalid_window_seconds: int = Field(300, ge=10, le=86400)
    # Emails (as user ids and in records) have their domain case-folded; with this on (the
    # default) their local part too, so `Ann@Example.com` and `ann@example.com` are one user.
    casefold_email_local_part: bool = True
    # The partner's own route, answering in its platform's contract (see RouteConfig).
    route: RouteConfig | None = None
    # Browser origins allowed to call this partner's login routes (CORS), e.g. "https://app.example".
    allowed_origins: list[Origin] = Field(default_factory=list)
    # When the Firebase Auth user is made: when the app first signs in with the custom token
    # (Firebase creates it), or by bridge during the first login (with email and display name).
    firebase_user: Literal["on_sign_in", "on_first_login"] = "on_sign_in"

    @field_validator("uid_format")
    @classmethod
    def _uid_format_names_external_id(cls, value: str) -> str:
        if "{external_id}" not in value:
            raise ValueError("must contain {external_id}")
        try:
            value.format(partner="p", external_id="x")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"only {{partner}} and {{external_id}} may be used ({error})") from None
        return value

    @field_validator("claims", "static_claims")
    @classmethod
    def _no_reserved_claims(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = reserved_claim_names(value)
        if reserved:
            raise ValueError(f"reserved claim names cannot be used: {', '.join(reserved)}")
        return value

    # --- behaviour every kind defines ---------------------------------------------------------
    @abstractmethod
    def build_verifier(self, partner_id: str, outbound: Outbound) -> Verifier:
        """The verifier of this partner's credentials (keys are loaded here: ConfigError)."""

    @abstractmethod
    def credential_from(self, presented: Presented) -> Credential:
        """The credential a request presents, or CredentialIncomplete saying what to send."""

    @property
    @abstractmethod
    def identity_paths(self) -> IdentityPaths:
        """Where this partner's credentials name the user."""

    # --- behaviour with a default most kinds keep ---------------------------------------------
    @property
    def is_single_use(self) -> bool:
        """Each credential is accepted once (its `jti` is remembered)."""
        return False

    @property
    def token_leeway_seconds(self) -> int:
        return 0

    @property
    def admin_requirements(self) -> Mapping[str, ClaimRule]:
        """Claims that make this partner's token an admin credential; empty: it grants none."""
        return {}

    def redirect_rules(self) -> JwtRules | None:
        """The browser redirect login's rules; None: this kind has no redirect login."""
        return None

    def failure_counters(self, partner_id: str, credential: Credential, client_address: str) -> list[Counter]:
        """Counters a failed verification of `credential` adds to, reserved before it is verified."""
        return []

    def relaxed_claims(self) -> list[str]:
        """The require_* settings turned off (logged at start-up, never silent)."""
        return []

    def with_paths_resolved(self, base_dir: Path) -> Self:
        """This partner with relative file paths resolved against the partners file's folder."""
        return self

    def check_keys(self, partner_id: str) -> None:
        """Load the keys this partner configures itself (ConfigError if one is bad)."""


class JwtRules(PartnerBase):
    """Claim rules shared by every partner whose users present a JWT."""

    # Required unless require_issuer / require_audience is false (secret and PEM partners only).
    issuer: Annotated[str, Field(min_length=1)] | None = None
    audience: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)] | None = None
    algorithms: Annotated[list[str], Field(min_length=1)]
    # false: tokens without `iss` / `aud` are accepted (when present they must still match). Only
    # for partners whose key is a secret or PEM key held by that partner alone (RFC 8725 3.8-3.10).
    require_issuer: bool = True
    require_audience: bool = True

    # Where the user id is: `sub`, `email` or any claim; dotted paths reach nested claims.
    user_id_claim: str = "sub"
    email_claim: str = "email"
    name_claim: str = "name"
    # Refuse tokens whose `email_verified` is not `true` when the email is the user id or goes
    # into the user record (or a developer claim).
    require_email_verified: bool = False
    # Claims the token must carry: a value (exact match) or a list (one of them).
    required_claims: dict[str, ScalarClaim | list[ScalarClaim]] = Field(default_factory=dict)
    # Tokens issued (`iat`) longer ago than this are refused; setting it makes `iat` required.
    max_token_age_seconds: int | None = Field(None, ge=1, le=30 * 86400)
    # The header `typ` the token must have (compared case-insensitively), e.g. "JWT" or "at+jwt".
    typ: str | None = None
    # Accept each token once: `jti` is required and remembered in MongoDB until `exp`.
    single_use: bool = False
    leeway_seconds: int = Field(30, ge=0, le=300)
    max_token_bytes: int = Field(8192, ge=256, le=65536)

    # Browser redirect login (GET /v1/login/redirect): where users may be sent afterwards. A
    # `redirect` must match one entry's origin exactly and start with its path.
    redirect_urls: list[HttpsUrl] = Field(default_factory=list)
    default_redirect_url: HttpsUrl | None = None
    # Failures go here with `?error=<short message>`; without it, a plain 401 page.
    error_redirect_url: HttpsUrl | None = None
    # Also put an ID token and refresh token in the redirect's fragment.
    redirect_with_session: bool = False
    # Redirect login, DeveloperHub style: the query parameter with the token (`jwt`), the query
    # parameter the error URL gets the message in (`dh_jwt_error`), and whether a verified token's
    # own `error_redirect_url` claim (when it passes the redirect allow-list) is where failures go.
    token_param: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "token"
    error_param: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "error"
    error_redirect_from_token: bool = False
    # Tokens of this partner carrying these claims (value, or one of a list) are admin credentials
    # for bridge's admin API and page. Empty: this partner grants no admin access.
    admin_claims: dict[str, ScalarClaim | list[ScalarClaim]] = Field(default_factory=dict)

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        for name in value:
            if name.lower() == "none":
                raise ValueError("'none' is never allowed")
            if name not in SUPPORTED_ALGORITHMS:
                raise ValueError(
                    f"unsupported algorithm {name!r}; use {', '.join(sorted(SUPPORTED_ALGORITHMS))}"
                )
        return value

    def audiences(self) -> list[str]:
        if self.audience is None:
            return []
        return [self.audience] if isinstance(self.audience, str) else list(self.audience)

    credential_fields: ClassVar[tuple[str, ...]] = ("token",)

    def credential_from(self, presented: Presented) -> Credential:
        if presented.username is not None or presented.password is not None:
            raise CredentialIncomplete(f"{presented.who} takes a `token`, not a username and password.")
        token, header_token = presented.token, presented.bearer
        if token and header_token and token != header_token:
            raise CredentialIncomplete("Send the token in the body or in the Authorization header, not both.")
        if not (token or header_token):
            raise CredentialIncomplete(
                f"A token is required (body field `{presented.name('token')}` or `Authorization: Bearer`)."
            )
        return PartnerToken(token or header_token or "")

    @property
    def identity_paths(self) -> IdentityPaths:
        return IdentityPaths(
            user_id=self.user_id_claim,
            email=self.email_claim,
            name=self.name_claim,
            id_is_email=self.user_id_claim in (self.email_claim, "email"),
            casefold_email_local_part=self.casefold_email_local_part,
        )

    @property
    def is_single_use(self) -> bool:
        return self.single_use

    @property
    def token_leeway_seconds(self) -> int:
        return self.leeway_seconds

    @property
    def admin_requirements(self) -> Mapping[str, ClaimRule]:
        return self.admin_claims

    def redirect_rules(self) -> JwtRules:
        return self

    @model_validator(mode="after")
    def _issuer_and_audience_present(self) -> JwtRules:
        if self.require_issuer and self.issuer is None:
            raise ValueError(
                "field 'issuer': Field required (require_issuer = false: secret or PEM keys only)"
            )
        if self.require_audience and self.audience is None:
            raise ValueError(
                "field 'audience': Field required (require_audience = false: secret or PEM keys only)"
            )
        return self


class JwtPartnerConfig(JwtRules, KeySetRules):
    """Users present a JWT the partner signed: verified with a shared secret (HS*), a public key
    (PEM) or the partner's published key set (`jwks_url`)."""

    kind: Literal["jwt"] = "jwt"
    # Exactly one key source.
    secret_env: str | None = None
    secret_file: Path | None = None
    public_key: str | None = None
    public_key_file: Path | None = None
    jwks_url: HttpsUrl | None = None

    @model_validator(mode="after")
    def _one_key_one_family(self) -> JwtPartnerConfig:
        secret = [s for s in (self.secret_env, self.secret_file) if s is not None]
        public = [k for k in (self.public_key, self.public_key_file, self.jwks_url) if k is not None]
        if len(secret) + len(public) != 1:
            raise ValueError(
                "set exactly one of secret_env, secret_file, public_key, public_key_file, jwks_url"
            )
        algorithms = set(self.algorithms)
        if secret and not algorithms <= HMAC_ALGORITHMS:
            raise ValueError("a secret key allows only HS256, HS384 or HS512 in algorithms")
        if public and algorithms & HMAC_ALGORITHMS:
            raise ValueError("a public key never allows HS* algorithms (key confusion)")
        single_key = self.public_key is not None or self.public_key_file is not None
        if single_key and algorithms & RSA_ALGORITHMS and algorithms & EC_ALGORITHMS:
            raise ValueError("one key is RSA or EC, not both: split RS*/PS* and ES* algorithms")
        return self

    @model_validator(mode="after")
    def _optional_iss_aud_only_for_own_keys(self) -> JwtPartnerConfig:
        if self.jwks_url is not None and not (self.require_issuer and self.require_audience):
            raise ValueError(
                "require_issuer / require_audience = false is allowed only for a secret or PEM key "
                "held by this partner alone, never with jwks_url"
            )
        return self

    def build_verifier(self, partner_id: str, outbound: Outbound) -> Verifier:
        if self.jwks_url is None:
            key = load_verification_key(partner_id, self)
            return JwtVerifier(partner_id, self, SingleKey(TrustedKey(None, key, frozenset(self.algorithms))))
        url = self.jwks_url

        async def fixed_url() -> str:
            return url

        return JwtVerifier(
            partner_id, self, JwksKeySet(partner_id, fixed_url, self, self.algorithms, outbound)
        )

    def relaxed_claims(self) -> list[str]:
        required = {"require_issuer": self.require_issuer, "require_audience": self.require_audience}
        return [name for name, on in required.items() if not on]

    def with_paths_resolved(self, base_dir: Path) -> Self:
        relative = {
            name: base_dir / value
            for name, value in (("secret_file", self.secret_file), ("public_key_file", self.public_key_file))
            if value is not None and not value.is_absolute()
        }
        return self.model_copy(update=relative)

    def check_keys(self, partner_id: str) -> None:
        if self.jwks_url is None:  # a published key set is fetched on first use, not here
            load_verification_key(partner_id, self)


class OidcPartnerConfig(JwtRules, KeySetRules):
    """An OpenID Connect provider, configured by its issuer: its ID tokens are the credentials.
    Keys come from the `jwks_uri` of `{issuer}/.well-known/openid-configuration`."""

    kind: Literal["oidc"] = "oidc"
    issuer: HttpsUrl
    audience: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]
    algorithms: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["RS256"])

    @model_validator(mode="after")
    def _public_keys_only(self) -> OidcPartnerConfig:
        if set(self.algorithms) & HMAC_ALGORITHMS:
            raise ValueError("OIDC providers publish public keys: HS* algorithms are not allowed")
        if not (self.require_issuer and self.require_audience):
            raise ValueError("require_issuer / require_audience = false is never allowed for OIDC providers")
        return self

    def build_verifier(self, partner_id: str, outbound: Outbound) -> Verifier:
        discovery = OidcDiscovery(self.issuer, outbound, self.fetch_timeout_seconds)
        return JwtVerifier(
            partner_id, self, JwksKeySet(partner_id, discovery.jwks_uri, self, self.algorithms, outbound)
        )


class PasswordPartnerConfig(PartnerBase):
    """Users log in with username and password, which bridge relays to the partner's login API
    (e.g. Strapi's `POST /api/auth/local` with `{identifier, password}` answering `{jwt, user}`)."""

    kind: Literal["password"] = "password"
    login_url: HttpsUrl
    username_field: str = "identifier"
    password_field: str = "password"
    # Fixed fields added to every request body sent to the login API.
    extra_fields: dict[str, ScalarClaim] = Field(default_factory=dict)
    timeout_seconds: float = Field(5, gt=0, le=30)
    # Where, in the login API's JSON answer, the user is (dotted paths).
    user_id_path: str = "user.id"
    email_path: str | None = "user.email"
    name_path: str | None = "user.username"
    # Brute-force protection: failed logins allowed per username and per client address within
    # the window; beyond that the partner answers 429 until the window ends.
    max_failures_per_user: int = Field(5, ge=1, le=1000)
    max_failures_per_address: int = Field(50, ge=1, le=100000)
    failure_window_seconds: int = Field(900, ge=10, le=86400)
    max_username_length: int = Field(256, ge=1, le=1024)
    max_password_length: int = Field(1024, ge=8, le=8192)

    credential_fields: ClassVar[tuple[str, ...]] = ("username", "password")

    def build_verifier(self, partner_id: str, outbound: Outbound) -> Verifier:
        return PasswordVerifier(partner_id, self, outbound)

    def credential_from(self, presented: Presented) -> Credential:
        username, password = presented.username, presented.password
        if username is None or password is None or presented.token is not None:
            raise CredentialIncomplete(
                f"{presented.who} takes `{presented.name('username')}` and `{presented.name('password')}`."
            )
        return PasswordLogin(username, password)

    @property
    def identity_paths(self) -> IdentityPaths:
        return IdentityPaths(
            user_id=self.user_id_path,
            email=self.email_path,
            name=self.name_path,
            id_is_email=self.user_id_path == self.email_path,
            casefold_email_local_part=self.casefold_email_local_part,
        )

    def failure_counters(self, partner_id: str, credential: Credential, client_address: str) -> list[Counter]:
        """Failed logins per username and per client address: reserved before the password is
        relayed, so at most max_failures_per_user checks per window reach the partner."""
        if not isinstance(credential, PasswordLogin):
            return []
        window = self.failure_window_seconds
        return [
            Counter(user_key(partner_id, credential.username), self.max_failures_per_user, window),
            Counter(address_key(partner_id, client_address), self.max_failures_per_address, window),
        ]


PartnerConfig = JwtPartnerConfig | OidcPartnerConfig | PasswordPartnerConfig
# The partners file's tables: the class is chosen by the table's `kind`.
_PARTNER_TABLE: TypeAdapter[PartnerConfig] = TypeAdapter(
    Annotated[PartnerConfig, Field(discriminator="kind")]
)
# Every kind of partner, by the value of its `kind` field.
PARTNER_KINDS: dict[str, type[PartnerBase]] = {
    "jwt": JwtPartnerConfig,
    "oidc": OidcPartnerConfig,
    "password": PasswordPartnerConfig,
}
_KIND_ERRORS = frozenset({"union_tag_not_found", "union_tag_invalid"})


def _field_errors(partner_id: str, error: ValidationError) -> list[str]:
    messages = []
    for e in error.errors(include_input=False):
        where = f"partner {partner_id!r}"
        if e["type"] in _KIND_ERRORS:
            messages.append(f"{where}, field 'kind': must be one of {', '.join(PARTNER_KINDS)}")
            continue
        location = e["loc"][1:]  # the first part is the kind that was chosen
        if location:
            where += f", field {'.'.join(str(part) for part in location)!r}"
        messages.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    return messages


def _parse_partner(partner_id: str, table: object, base_dir: Path) -> PartnerConfig:
    if not re.fullmatch(PARTNER_ID_PATTERN, partner_id):
        raise ConfigError(f"partner {partner_id!r}: ids are 1-32 of a-z, 0-9, '-' and '_'")
    if not isinstance(table, dict):
        raise ConfigError(f"partner {partner_id!r}: must be a table")
    try:
        config = _PARTNER_TABLE.validate_python(table)
    except ValidationError as error:
        raise ConfigError("; ".join(_field_errors(partner_id, error))) from None
    return config.with_paths_resolved(base_dir)


def parse_partners(data: dict[str, Any], source: str, base_dir: Path) -> dict[str, PartnerConfig]:
    """Validate a parsed partners document; relative key paths are resolved against base_dir.
    Every mistake in the document is reported at once."""
    unknown = sorted(set(data) - {"partners"})
    partners = data.get("partners")
    if unknown or not isinstance(partners, dict) or not partners:
        raise ConfigError(
            f"{source}: expected only [partners.<id>] tables, at least one"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    parsed: dict[str, PartnerConfig] = {}
    problems: list[str] = []
    for partner_id, table in partners.items():
        try:
            parsed[partner_id] = _parse_partner(partner_id, table, base_dir)
        except ConfigError as error:
            problems.append(str(error))
    problems.extend(_route_problems(parsed))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return parsed


def _route_problems(parsed: dict[str, PartnerConfig]) -> list[str]:
    """Partner routes: one partner per path, and a contract that fits the partner's kind."""
    problems: list[str] = []
    owners: dict[str, str] = {}
    for partner_id, config in parsed.items():
        route = config.route
        if route is None:
            continue
        where = f"partner {partner_id!r}, field 'route'"
        if route.path in owners:
            problems.append(f"{where}: path {route.path} is already partner {owners[route.path]!r}'s route")
        owners.setdefault(route.path, partner_id)
        redirect = config.redirect_rules()
        if route.contract == "redirect" and redirect is None:
            problems.append(f"{where}: the redirect contract needs a jwt or oidc partner")
        if route.contract == "redirect" and route.fields:
            problems.append(f"{where}: the redirect contract takes token_param, not fields")
        if redirect is not None and redirect.token_param == "redirect":
            problems.append(f"partner {partner_id!r}, field 'token_param': 'redirect' names the target")
        if route.contract == "bridge" and "session" in route.fields.values():
            problems.append(f"{where}: 'session' is the bridge contract's own field; pick another name")
        unusable = sorted(set(route.fields) - set(config.credential_fields))
        if unusable:
            kind = "password" if "password" in config.credential_fields else "token"
            problems.append(f"{where}: {', '.join(unusable)} cannot be used by a {kind} partner")
    return problems


def load_partners_file(path: Path) -> dict[str, PartnerConfig]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"partners file {path} does not exist (set BRIDGE_PARTNERS_FILE)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"partners file {path} is not valid TOML: {error}") from None
    return parse_partners(expand_environment(data, str(path)), str(path), path.parent)


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_environment(data: Any, source: str, environ: Mapping[str, str] | None = None) -> Any:
    """`${NAME}` and `${NAME:-default}` in the file's strings, from the environment: endpoints and
    URLs can differ per deployment without editing the file (secrets stay in `secret_env`). An
    unset variable without a default stops start-up, naming it."""
    env = os.environ if environ is None else environ

    def expand(value: Any) -> Any:
        if isinstance(value, str):
            return _ENV_REFERENCE.sub(substitute, value)
        if isinstance(value, dict):
            return {key: expand(item) for key, item in value.items()}
        if isinstance(value, list):
            return [expand(item) for item in value]
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{source}: environment variable {name} is not set (used as ${{{name}}})")

    return expand(data)
