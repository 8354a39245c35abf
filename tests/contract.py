"""Every answer a bridge app gives a test, held to the OpenAPI document the same app serves at
/openapi.json: the status is documented for the operation, the media type is one documented for that
status, and a JSON body validates against its schema (OpenAPI 3.1 schemas are JSON Schema 2020-12).

`ContractClient` is the aiohttp test client of every `aiohttp_client(app)` in the suite (conftest's
`aiohttp_client_cls`; an app serving no /openapi.json is not bridge and goes unchecked). A call to a
route that is deliberately not in the document (a CORS preflight, say) passes `undocumented=True`;
nothing else opts out.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

JSON_MEDIA_TYPES = frozenset({"application/json", "application/problem+json"})
# What aiohttp itself answers for a path no route has, or a method a path has no route for.
ROUTING_ERRORS = {"404": "no route has this path", "405": "the path has no route for this method"}
# What bridge answers, on any path, to a request its HTTP parser refuses (a header line over 8 KiB,
# a control byte, …: bridge.web.malformed): such a request reaches no operation.
NOT_HTTP = (400, "The request is not valid HTTP.")


# The documented answer of a problem (RFC 9457) where no operation documents one.
PROBLEM: dict[str, Any] = {
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
}


def _detail(body: bytes) -> Any:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return answer.get("detail") if isinstance(answer, dict) else None


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    responses: dict[str, Any]


# A user reference may hold "/" (`users/{uid}`, as the document's description of `ref` says): the
# router matches it greedily; every other parameter is one path segment.
GREEDY_PARAMETERS = frozenset({"ref"})


def _path_pattern(template: str) -> re.Pattern[str]:
    def parameter(match: re.Match[str]) -> str:
        return ".+" if match[1] in GREEDY_PARAMETERS else "[^/]+"

    parts = re.split(r"(\{[^/{}]+\})", template)
    regex = "".join(
        re.sub(r"\{([^/{}]+)\}", parameter, part) if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{regex}$")


def _operations(document: dict[str, Any]) -> list[Operation]:
    operations = [
        Operation(method.upper(), template, _path_pattern(template), entry["responses"])
        for template, methods in document["paths"].items()
        for method, entry in methods.items()
    ]
    # A literal path is tried before a template that also matches it.
    return sorted(operations, key=lambda o: o.template.count("{"))


@dataclass
class Contract:
    """The operations of one served document, and a validator per response schema (built on first use)."""

    document: dict[str, Any]
    operations: list[Operation] = field(init=False)
    _validators: dict[str, Draft202012Validator] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.operations = _operations(self.document)

    def violations(self, method: str, path: str, status: int, media_type: str, body: bytes) -> list[str]:
        """What is wrong with this answer, by the document (empty when nothing is)."""
        method = method.upper()
        if (status, _detail(body)) == NOT_HTTP:
            return self._check_content(
                f"{method} {path} answered {status} (not HTTP)", PROBLEM, media_type, body
            )
        if method == "HEAD" and status != 405:  # aiohttp answers HEAD with the GET route's handler
            method = "GET"
        operation = next((o for o in self.operations if o.method == method and o.pattern.match(path)), None)
        if operation is None:
            return self._unrouted(method, path, status, media_type, body)
        where = f"{method} {operation.template} answered {status} ({media_type})"
        documented = operation.responses.get(str(status))
        if documented is None:
            return [f"{where}: status not documented (documented: {', '.join(operation.responses)})"]
        return self._check_content(where, documented, media_type, body)

    async def violations_of(self, response: ClientResponse) -> list[str]:
        """What is wrong with this answer of an aiohttp client (its body is read, and stays readable)."""
        method = response.method.upper()
        body = b"" if method == "HEAD" else await response.read()
        return self.violations(method, response.url.path, response.status, response.content_type, body)

    def _unrouted(self, method: str, path: str, status: int, media_type: str, body: bytes) -> list[str]:
        expected = "405" if any(o.pattern.match(path) for o in self.operations) else "404"
        where = f"{method} {path} answered {status} ({media_type})"
        if str(status) != expected:
            return [
                f"{where}: not in the document, and not the {expected} for which {ROUTING_ERRORS[expected]}"
            ]
        return self._check_content(where, PROBLEM, media_type, body)

    def _check_content(
        self, where: str, documented: dict[str, Any], media_type: str, body: bytes
    ) -> list[str]:
        content: dict[str, Any] = documented.get("content", {})
        if not content:  # a redirect: headers only
            return []
        if media_type not in content:
            return [f"{where}: media type not documented (documented: {', '.join(content)})"]
        if media_type not in JSON_MEDIA_TYPES or not body:
            return []
        try:
            answer = json.loads(body)
        except ValueError as error:
            return [f"{where}: body is not JSON ({error})"]
        schema = content[media_type].get("schema", {})
        errors = sorted(self._validator(schema).iter_errors(answer), key=lambda e: list(e.absolute_path))
        return [f"{where}: {'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}" for e in errors]

    def _validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            # `#/components/...` references resolve inside this root (JSON Schema ignores the extra key).
            root = {**schema, "components": self.document["components"]}
            self._validators[key] = Draft202012Validator(
                root, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        return self._validators[key]


@functools.cache
def contract_of(document: str) -> Contract:
    """One Contract (and its compiled validators) per distinct document the suite is served."""
    return Contract(json.loads(document))


async def served_contract(http: ClientSession, base: str) -> Contract:
    """The contract a running bridge (a `bridge serve` process, say) serves at `base`/openapi.json."""
    async with http.get(f"{base}/openapi.json") as served:
        assert served.status == 200, f"/openapi.json answered {served.status}"
        return contract_of(await served.text())


async def assert_documented(contract: Contract, response: ClientResponse) -> None:
    """Fails the test when this answer (of any aiohttp client) is not what the document says."""
    problems = await contract.violations_of(response)
    assert not problems, "the answer does not match /openapi.json:\n  " + "\n  ".join(problems)


class ContractClient(TestClient[Any, Any]):  # type: ignore[misc]
    """The aiohttp test client, checking every answer against the app's own /openapi.json (read once,
    when the client starts, so that tests counting requests or log lines do not see it)."""

    contract: Contract | None = None  # None: an app that is not bridge (no /openapi.json), unchecked

    async def start_server(self) -> None:
        await super().start_server()
        served = await super()._request("GET", "/openapi.json")
        assert served.status in (200, 404), f"/openapi.json answered {served.status}"
        if served.status == 200:
            self.contract = contract_of(await served.text())

    async def _request(self, method: str, path: Any, **kwargs: Any) -> ClientResponse:
        undocumented = kwargs.pop("undocumented", False)
        response: ClientResponse = await super()._request(method, path, **kwargs)
        if self.contract is not None and not undocumented:
            await self._check(self.contract, response)
        return response

    @staticmethod
    async def _check(contract: Contract, response: ClientResponse) -> None:
        await assert_documented(contract, response)
