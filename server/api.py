"""Operator and CRM routes: later outcomes in, experiments' analyses out, the dashboard.

    POST /api/outcomes            a CRM posts a JSON list of outcomes: all stored, or none
    GET  /api/experiments         every experiment: status, arms, current weights
    GET  /api/experiments/{name}  its analysis (the same JSON as ``salesvoice ab report --json``)
    GET  /dashboard               the dashboard page (no token: its data calls need one)
    GET  /api/dashboard, /api/calls/{id}   the dashboard's data (``server.dashboard``)

Every route under /api/ needs ``Authorization: Bearer <[server] api_token>``. Without a
token configured, only clients on this machine may use them (loopback peers that are not
a proxy relaying someone else), so a fresh install is not open to the network.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server import dashboard
from server.experiments import check_slug
from server.hub import Hub
from server.outcomes import OutcomeImportError, parse_outcome_objects
from server.store_ab import ExperimentRecord, UnknownExperimentError

log = logging.getLogger(__name__)
MAX_OUTCOME_ROWS = 10_000
MAX_OUTCOME_BYTES = 5 * 1024 * 1024
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_NO_STORE = {"Cache-Control": "no-store"}
Handler = Callable[[Request], Awaitable[Response]]


def routes() -> list[BaseRoute]:
    """The operator routes, to add to the app's."""
    return [
        Route("/dashboard", dashboard.dashboard_page),
        Route("/api/dashboard", operator(dashboard.dashboard_data)),
        Route("/api/calls/{id}", operator(dashboard.call_detail)),
        Route("/api/outcomes", operator(post_outcomes), methods=["POST"]),
        Route("/api/experiments", operator(list_experiments)),
        Route("/api/experiments/{name}", operator(experiment_analysis)),
    ]


# -- auth ------------------------------------------------------------------------------------


def operator(handler: Handler) -> Handler:
    """``handler`` behind the API auth (see the module docstring)."""

    async def guarded(request: Request) -> Response:
        hub: Hub = request.app.state.hub
        refusal = refuse_unauthorized(request, hub.settings.server.api_token)
        return refusal if refusal is not None else await handler(request)

    guarded.__name__ = guarded.__qualname__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


def refuse_unauthorized(request: Request, api_token: str | None) -> Response | None:
    """None when ``request`` may use an operator route, else its 401/403 response."""
    if api_token is None:
        if is_local(request):
            return None
        return _error(403, "the API takes requests from this machine only while "
                           "[server] api_token (SALESVOICE_SERVER__API_TOKEN) is unset; set it "
                           "and send 'Authorization: Bearer <token>'")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _error(401, "this route needs 'Authorization: Bearer <token>' with the "
                           "[server] api_token", headers={"WWW-Authenticate": "Bearer"})
    # Compared in constant time; the token given is never echoed or logged.
    if not hmac.compare_digest(given.strip().encode(), api_token.encode()):
        return _error(401, "wrong API token",
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return None


def is_local(request: Request) -> bool:
    """The peer is on this machine and no proxy says it relays another client."""
    if request.client is None or any(h in request.headers for h in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # a unix socket path or a test client's name
        return False


# -- handlers --------------------------------------------------------------------------------


async def post_outcomes(request: Request) -> Response:
    """``POST /api/outcomes[?source=crm]``: a JSON list of outcome objects (``call_id`` or
    ``caller_id``, ``outcome``, ``value``, ``time``) → ``{"added": n, "skipped": m}``;
    any bad row → 400 naming it, and nothing is stored."""
    hub: Hub = request.app.state.hub
    source = request.query_params.get("source", "api")
    try:
        check_slug(source)
    except ValueError as exc:
        return _error(400, f"query parameter 'source': {exc}")
    body = await _read_body(request, MAX_OUTCOME_BYTES)
    if body is None:
        return _error(413, f"the request body exceeds {MAX_OUTCOME_BYTES} bytes; post at most "
                           f"{MAX_OUTCOME_ROWS} outcomes per request")
    try:
        items = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        return _error(400, f"the request body is not JSON: {_json_problem(exc)}")
    if isinstance(items, list) and len(items) > MAX_OUTCOME_ROWS:
        return _error(413, f"{len(items)} outcomes in one request; post at most "
                           f"{MAX_OUTCOME_ROWS} per request")
    try:
        rows = parse_outcome_objects(items)
        result = await hub.experiments.add_outcomes(rows, source)
    except OutcomeImportError as exc:
        return _error(400, str(exc))
    log.info("outcomes from %s: %d added, %d already stored", source, result.added,
             result.skipped)
    return JSONResponse({"added": result.added, "skipped": result.skipped}, headers=_NO_STORE)


async def list_experiments(request: Request) -> Response:
    """``GET /api/experiments``: every experiment, running first, then newest first."""
    hub: Hub = request.app.state.hub
    records = await hub.experiments.list()
    records.sort(key=lambda r: (r.status != "running", -r.created_at.timestamp()))
    return JSONResponse({"experiments": [_summary(r) for r in records]}, headers=_NO_STORE)


async def experiment_analysis(request: Request) -> Response:
    """``GET /api/experiments/{name}[?include_forced=1]``: the experiment's analysis now."""
    hub: Hub = request.app.state.hub
    name = request.path_params["name"]
    include_forced = request.query_params.get("include_forced", "0")
    if include_forced not in ("0", "1", "false", "true"):
        return _error(400, "query parameter 'include_forced': expected 0, 1, false or true")
    try:
        analysis = await hub.experiments.analysis(
            name, include_forced=include_forced in ("1", "true"))
    except UnknownExperimentError:
        return _error(404, f"no experiment {name!r} (GET /api/experiments lists them)")
    return JSONResponse(analysis.to_json(), headers=_NO_STORE)


def _summary(record: ExperimentRecord) -> dict[str, Any]:
    spec = record.spec
    return {
        "name": record.name, "status": record.status, "description": spec.description,
        "control": spec.control, "epoch": record.epoch,
        "arms": [{"arm": a.name, "program": a.program, "weight": record.weights.get(a.name)}
                 for a in spec.arms],
        "created_at": record.created_at.isoformat(),
        "started_at": record.started_at.isoformat(),
        "stopped_at": None if record.stopped_at is None else record.stopped_at.isoformat(),
    }


# -- helpers ---------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)  # UnicodeDecodeError: not UTF-8


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status,
                        headers={**_NO_STORE, **(headers or {})})
