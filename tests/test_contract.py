"""The contract checker every HTTP test goes through (tests/contract.py) catches what it claims to:
an undocumented status, media type or route, and a body off its schema; and lets a conforming answer
and an opted-out call through."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from contract import Contract, ContractClient

PROBLEM = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "status": {"type": "integer"}},
    "required": ["type", "status"],
}
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/things/{id}": {
            "get": {
                "responses": {
                    "200": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}
                    },
                    "404": {"content": {"application/problem+json": {"schema": PROBLEM}}},
                }
            }
        },
        "/things/new": {"post": {"responses": {"303": {"description": "Redirect"}}}},
        "/users/{ref}": {"delete": {"responses": {"204": {"description": "Gone"}}}},
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "size": {"type": "integer", "minimum": 0}},
                "required": ["id"],
                "additionalProperties": False,
            },
            "ProblemDetails": PROBLEM,
        }
    },
}


def violations(method: str, path: str, status: int, media_type: str, body: bytes) -> list[str]:
    return Contract(DOCUMENT).violations(method, path, status, media_type, body)


def test_a_conforming_answer_passes():
    assert violations("GET", "/things/a1", 200, "application/json", b'{"id": "a1", "size": 3}') == []
    assert violations("HEAD", "/things/a1", 200, "application/json", b"") == []
    assert violations("HEAD", "/things/a1", 405, "application/problem+json", b"") == []  # GET-only route
    assert violations("POST", "/things/new", 303, "text/plain", b"303: See Other") == []


@pytest.mark.parametrize(
    ("status", "media_type", "body", "complaint"),
    [
        (201, "application/json", b'{"id": "a1"}', "status not documented (documented: 200, 404)"),
        (200, "text/html", b"<p>a1</p>", "media type not documented (documented: application/json)"),
        (200, "application/json", b'{"id": "a1", "size": -1}', "size: -1 is less than the minimum of 0"),
        (200, "application/json", b'{"id": "a1", "colour": "red"}', "Additional properties are not allowed"),
        (200, "application/json", b'{"size": 1}', "body: 'id' is a required property"),
        (200, "application/json", b"{not json", "body is not JSON"),
        (404, "application/problem+json", b'{"type": "x"}', "body: 'status' is a required property"),
    ],
)
def test_each_kind_of_mismatch_is_named(status, media_type, body, complaint):
    found = violations("GET", "/things/a1", status, media_type, body)
    assert len(found) == 1 and found[0].startswith(f"GET /things/{{id}} answered {status}")
    assert complaint in found[0]


def test_routes_outside_the_document_may_only_be_the_routers_404_and_405():
    problem = b'{"type": "about:blank", "status": 404}'
    assert violations("GET", "/elsewhere", 404, "application/problem+json", problem) == []
    assert (
        violations("DELETE", "/things/a1", 405, "application/problem+json", problem.replace(b"404", b"405"))
        == []
    )
    assert "not in the document" in violations("GET", "/elsewhere", 200, "application/json", b"{}")[0]
    assert "not in the document" in violations("DELETE", "/things/a1", 404, "application/json", b"{}")[0]


def test_the_answer_to_a_request_that_is_not_http_may_come_on_any_path():
    not_http = b'{"type": "/problems/bad-request", "status": 400, "detail": "The request is not valid HTTP."}'
    other = b'{"type": "/problems/bad-request", "status": 400, "detail": "The body has invalid fields."}'
    assert violations("GET", "/things/a1", 400, "application/problem+json", not_http) == []
    assert (
        "status not documented" in violations("GET", "/things/a1", 400, "application/problem+json", other)[0]
    )


def test_a_user_reference_may_hold_a_slash_other_parameters_are_one_segment():
    assert violations("DELETE", "/users/users/acme:ann", 204, "application/octet-stream", b"") == []
    assert "not in the document" in violations("GET", "/things/a1/more", 200, "application/json", b"{}")[0]


@pytest.fixture
def aiohttp_client_cls() -> type[ContractClient]:
    return ContractClient


async def test_the_client_fails_a_test_on_a_mismatch_unless_the_call_opts_out(aiohttp_client):
    async def thing(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"], "size": "large"})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(DOCUMENT)

    app = web.Application()
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/things/{id}", thing)
    client = await aiohttp_client(app)

    with pytest.raises(AssertionError, match="size: 'large' is not of type 'integer'"):
        await client.get("/things/a1")
    response = await client.get("/things/a1", undocumented=True)
    assert response.status == 200 and (await response.json())["size"] == "large"


async def test_an_app_without_a_document_is_not_bridge_and_goes_unchecked(aiohttp_client):
    async def anything(request: web.Request) -> web.Response:
        return web.json_response({"size": "large"}, status=418)

    app = web.Application()
    app.router.add_get("/things/{id}", anything)
    client = await aiohttp_client(app)

    assert client.contract is None
    assert (await client.get("/things/a1")).status == 418
