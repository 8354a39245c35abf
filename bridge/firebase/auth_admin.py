"""Firebase Auth administration through firebase-admin, run in a thread pool (its calls block).

Honours FIREBASE_AUTH_EMULATOR_HOST, as firebase-admin does.

A stalled Firebase cannot hold bridge: each HTTP call of firebase-admin is bounded by
`httpTimeout` (it retries a read error once, so a thread may stay busy twice that); a request waits
at most `timeout_seconds` for its call, queueing included; and at most `threads + queue` calls
may be running or waiting at once: beyond that the call fails at once (FirebaseBusy, a 503 with
Retry-After) instead of queueing behind stalled ones.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any, TypeVar

import firebase_admin
from firebase_admin import auth, credentials, exceptions, tenant_mgt

from bridge.infra.logs import fingerprint

T = TypeVar("T")


class IdTokenRejected(Exception):
    """An ID token or session cookie that is invalid, expired, revoked, of a disabled user or of a
    user Firebase no longer has. The message is a reason code only (firebase-admin's own error text
    quotes the presented value, so it is never kept), with the value's fingerprint for the log."""

    def __init__(self, code: str, fingerprint: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.fingerprint = fingerprint


class AuthRefusedInput(Exception):
    """Firebase Auth refused a field (e.g. a malformed email or phone number)."""


class AuthUnavailable(Exception):
    """Firebase Auth could not be reached or failed."""


class FirebaseBusy(AuthUnavailable):
    """Every Firebase thread is busy and the queue in front of them is full."""


class EmailInUse(Exception):
    """Another Firebase user already has this email address."""


class PhoneInUse(Exception):
    """Another Firebase user already has this phone number."""


class FirebaseAuth:
    def __init__(
        self,
        service_account: credentials.Certificate,
        project_id: str,
        executor: Executor,
        *,
        timeout_seconds: float = 10.0,
        capacity: int = 16,
    ) -> None:
        # A named app per bridge app, so several can live in one process (tests, workers).
        self._app = firebase_admin.initialize_app(
            service_account,
            {"projectId": project_id, "httpTimeout": timeout_seconds},
            name=f"bridge-{uuid.uuid4().hex}",
        )
        self.project_id = project_id
        self._executor = executor
        self._timeout = timeout_seconds
        self._capacity = capacity
        self._in_pool = 0  # calls running or queued in the executor (threads included)
        self._count_lock = threading.Lock()

    def close(self) -> None:
        firebase_admin.delete_app(self._app)

    def _submit(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        with self._count_lock:
            if self._in_pool >= self._capacity:
                raise FirebaseBusy(f"{self._in_pool} Firebase calls are running or queued")
            self._in_pool += 1
        try:
            future = self._executor.submit(functools.partial(call, *args, **kwargs))
        except BaseException:
            self._left_pool(None)
            raise
        future.add_done_callback(self._left_pool)
        return future

    def _left_pool(self, _: object) -> None:
        with self._count_lock:
            self._in_pool -= 1

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            future = self._submit(call, *args, **kwargs)
            # A call still queued when the wait ends is cancelled; a running one finishes in its
            # thread (bounded by httpTimeout) while the request has its answer already.
            return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError:
            raise AuthUnavailable(f"no answer from Firebase Auth within {self._timeout} s") from None
        except (
            auth.InvalidIdTokenError,
            auth.ExpiredIdTokenError,
            auth.RevokedIdTokenError,
            auth.InvalidSessionCookieError,
            auth.ExpiredSessionCookieError,
            auth.RevokedSessionCookieError,
            auth.UserDisabledError,
        ) as error:
            raise IdTokenRejected(type(error).__name__) from None
        except auth.EmailAlreadyExistsError:
            raise EmailInUse() from None
        except auth.PhoneNumberAlreadyExistsError:
            raise PhoneInUse() from None
        except exceptions.InvalidArgumentError as error:
            raise AuthRefusedInput(str(error)) from None
        except (
            auth.CertificateFetchError,
            exceptions.UnavailableError,
            exceptions.DeadlineExceededError,
            exceptions.InternalError,
        ) as error:
            raise AuthUnavailable(_code(error)) from None

    def _client(self, tenant_id: str | None) -> Any:
        if tenant_id:
            return tenant_mgt.auth_for_tenant(tenant_id, app=self._app)
        return _DefaultClient(self._app)

    async def verify_id_token(self, id_token: str) -> dict[str, Any]:
        with _refused_as(id_token):
            claims: dict[str, Any] = await self._run(
                auth.verify_id_token, id_token, app=self._app, clock_skew_seconds=5
            )
        return claims

    async def create_session_cookie(self, id_token: str, lifetime: timedelta) -> str:
        with _refused_as(id_token):
            cookie: str = await self._run(auth.create_session_cookie, id_token, lifetime, app=self._app)
        return cookie

    async def verify_session_cookie(self, cookie: str) -> dict[str, Any]:
        with _refused_as(cookie):
            claims: dict[str, Any] = await self._run(
                auth.verify_session_cookie, cookie, app=self._app, clock_skew_seconds=5
            )
        return claims

    async def revoke_refresh_tokens(self, uid: str, tenant_id: str | None = None) -> None:
        """Revoke the user's refresh tokens; a user missing from Firebase has none to revoke."""
        with contextlib.suppress(auth.UserNotFoundError):
            await self._run(self._client(tenant_id).revoke_refresh_tokens, uid)

    async def create_user(self, uid: str, fields: Mapping[str, Any], tenant_id: str | None = None) -> bool:
        """Create the Firebase user with this uid; False when it exists already (idempotent)."""
        try:
            await self._run(self._client(tenant_id).create_user, uid=uid, **fields)
        except auth.UidAlreadyExistsError:
            return False
        return True

    async def get_user(self, uid: str, tenant_id: str | None = None) -> auth.UserRecord | None:
        try:
            user: auth.UserRecord = await self._run(self._client(tenant_id).get_user, uid)
        except auth.UserNotFoundError:
            return None
        except ValueError as error:  # firebase-admin's own check of the uid (e.g. over 128 characters)
            raise AuthRefusedInput(str(error)) from None
        return user

    async def set_custom_claims(
        self, uid: str, claims: Mapping[str, Any] | None, tenant_id: str | None = None
    ) -> None:
        await self._run(self._client(tenant_id).set_custom_user_claims, uid, dict(claims) if claims else None)

    async def get_users(self, uids: list[str], tenant_id: str | None = None) -> dict[str, auth.UserRecord]:
        """{uid: record} for those that exist; firebase-admin looks up 100 per call."""
        found: dict[str, auth.UserRecord] = {}
        client = self._client(tenant_id)
        for start in range(0, len(uids), 100):
            chunk = [auth.UidIdentifier(uid) for uid in uids[start : start + 100]]
            result = await self._run(client.get_users, chunk)
            found.update({user.uid: user for user in result.users})
        return found

    async def list_users_page(
        self, page_token: str | None, tenant_id: str | None = None, max_results: int = 1000
    ) -> tuple[list[auth.ExportedUserRecord], str | None]:
        """One page of Firebase users (at most 1000) and the next page's token."""
        page = await self._run(
            self._client(tenant_id).list_users, page_token=page_token, max_results=max_results
        )
        return list(page.users), page.next_page_token or None

    async def update_user(self, uid: str, fields: Mapping[str, Any], tenant_id: str | None = None) -> None:
        await self._run(self._client(tenant_id).update_user, uid, **fields)

    async def delete_user(self, uid: str, tenant_id: str | None = None) -> None:
        with contextlib.suppress(auth.UserNotFoundError):
            await self._run(self._client(tenant_id).delete_user, uid)


@contextlib.contextmanager
def _refused_as(token: str) -> Iterator[None]:
    """Checks an ID token or session cookie: every refusal is IdTokenRejected with a reason code
    and the value's fingerprint, never the value (firebase-admin's messages quote it)."""
    _ascii_only(token)
    try:
        yield
    except IdTokenRejected as error:
        raise IdTokenRejected(error.code, fingerprint(token)) from None
    except auth.UserNotFoundError:  # a valid ID token of a user deleted from Firebase since
        raise IdTokenRejected("UserNotFoundError", fingerprint(token)) from None
    except AuthRefusedInput:  # its message may quote the token
        raise IdTokenRejected("AuthRefusedInput", fingerprint(token)) from None
    except RecursionError:  # a header nested past the JSON parser's depth
        raise IdTokenRejected("RecursionError", fingerprint(token)) from None


def _ascii_only(token: str) -> None:
    """ID tokens and session cookies are JWTs, ASCII only; other bytes in a header (which aiohttp
    keeps as surrogates) would make firebase-admin fail to encode them."""
    if not token.isascii():
        raise IdTokenRejected("NotAscii", fingerprint(token))


def _code(error: Exception) -> str:
    """An error's type and firebase-admin code, never its text (which may quote what was sent)."""
    code = getattr(error, "code", None)
    return f"{type(error).__name__} ({code})" if isinstance(code, str) else type(error).__name__


class _DefaultClient:
    """The project-level (no tenant) client, through firebase-admin's public module functions."""

    def __init__(self, app: firebase_admin.App) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return functools.partial(getattr(auth, name), app=self._app)
