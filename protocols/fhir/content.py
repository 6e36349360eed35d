"""Reading a FHIR request: negotiation (Content-Type, Accept, _format, Prefer), the JSON body,
If-None-Exist criteria and their index keys, ETags."""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from urllib.parse import unquote

from engine.errors import ParseError

from .outcome import bad_request, not_acceptable, too_large, unsupported_media

__all__ = [
    "DEFAULT_MAX_BYTES", "FHIR_JSON", "FHIR_XML", "JSON_TYPES", "XML_TYPES", "criteria_keys",
    "criteria_match", "dump_json", "format_of", "identifier_keys", "is_xml",
    "negotiate_request", "negotiate_response", "parse_body", "parse_etag", "parse_if_none_exist",
    "parse_prefer", "prefer_return",
]

Format = Literal["json", "xml"]
FHIR_JSON = "application/fhir+json"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: Media types read as FHIR JSON (application/json+fhir is the DSTU2 name, still sent by clients).
JSON_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir", "text/json"})
FHIR_XML = "application/fhir+xml"
#: Media types read as FHIR XML (protocols/fhir/xml.py).
XML_TYPES = frozenset({"application/fhir+xml", "application/xml", "application/xml+fhir",
                       "text/xml"})
_FORMAT_WORDS = {"json": "json", "xml": "xml", "ttl": "ttl", "html": "html",
                 "text/html": "html", "text/turtle": "ttl", "application/x-turtle": "ttl"}
_RESPONSE_MIME = {"application/json": "application/json", "text/json": "application/json",
                  "application/xml": "application/xml", "text/xml": "application/xml"}


def _media_type(header: str) -> tuple[str, dict[str, str]]:
    """('application/fhir+json', {'charset': 'utf-8'}) from a Content-Type or Accept item."""
    mime, *params = header.split(";")
    out = {}
    for p in params:
        name, _, value = p.partition("=")
        out[name.strip().lower()] = value.strip().strip('"').lower()
    return mime.strip().lower(), out


def format_of(value: str) -> str | None:
    """'json' / 'xml' / other format word for a _format value or media type; None if unknown."""
    mime = _media_type(value.replace(" ", "+"))[0]  # '+' arrives as ' ' from a query string
    if mime in JSON_TYPES:
        return "json"
    if mime in XML_TYPES:
        return "xml"
    return _FORMAT_WORDS.get(mime)


def negotiate_request(content_type_header: str | None, format_param: str | None = None) -> Format:
    """The body format of a request ('json' or 'xml'), else FhirError 415."""
    header = (content_type_header or "").strip()
    if header:
        mime, params = _media_type(header)
        charset = params.get("charset", "utf-8")
        if charset in ("utf-8", "utf8"):
            if mime in JSON_TYPES:
                return "json"
            if mime in XML_TYPES:
                return "xml"
    elif format_param and format_of(format_param) in ("json", "xml"):
        return "xml" if format_of(format_param) == "xml" else "json"  # trust an explicit _format
    raise unsupported_media(header or None,
                            sorted(JSON_TYPES | XML_TYPES) + ["(charset utf-8 only)"])


def negotiate_response(accept_header: str | None, format_param: str | None = None) -> str:
    """The response media type: _format wins over Accept; FHIR JSON or FHIR XML (406 else).

    An Accept header naming only formats we lack is disregarded (RFC 9110 allows it) and the
    answer is FHIR JSON; application/json, text/json, application/xml and text/xml get the
    plain media type back.
    """
    if format_param:
        fmt = format_of(format_param)
        if fmt not in ("json", "xml"):
            raise not_acceptable(format_param)
        mime = _media_type(format_param.replace(" ", "+"))[0]
        return _RESPONSE_MIME.get(mime, FHIR_XML if fmt == "xml" else FHIR_JSON)
    best, best_q = FHIR_JSON, -1.0
    for item in (accept_header or "").split(","):
        if not item.strip():
            continue
        mime, params = _media_type(item)
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        if q <= 0 or q <= best_q:
            continue
        if mime in JSON_TYPES:
            best, best_q = _RESPONSE_MIME.get(mime, FHIR_JSON), q
        elif mime in XML_TYPES:
            best, best_q = _RESPONSE_MIME.get(mime, FHIR_XML), q
        elif mime in ("*/*", "application/*"):
            best, best_q = FHIR_JSON, q
    return best


def is_xml(media_type: str) -> bool:
    """True for a response media type that is FHIR XML."""
    return _media_type(media_type)[0] in XML_TYPES


def parse_prefer(header: str | None) -> dict[str, str]:
    """The Prefer header (RFC 7240) as {'return': 'representation', 'handling': 'strict'...}."""
    out: dict[str, str] = {}
    for item in (header or "").split(","):
        for part in item.split(";"):
            name, _, value = part.partition("=")
            if name.strip():
                out.setdefault(name.strip().lower(), value.strip().strip('"'))
    return out


def prefer_return(header: str | None) -> str:
    """'minimal' (default), 'representation' or 'OperationOutcome' from a Prefer header."""
    value = parse_prefer(header).get("return", "minimal")
    return value if value in ("minimal", "representation", "OperationOutcome") else "minimal"


class _DuplicateKeys:
    """object_pairs_hook that builds dicts and remembers the ones that had a key twice."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    self.found.append((id(out), key))
                seen.add(key)
        return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _find(node: Any, target: int, path: str) -> str | None:
    """FHIRPath of the dict with id `target` inside a parsed body."""
    if id(node) == target:
        return path
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (dict, list)) and (hit := _find(value, target, f"{path}.{key}")):
                return hit
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)) and (hit := _find(value, target, f"{path}[{i}]")):
                return hit
    return None


def parse_body(body: bytes, fmt: str = "json", max_bytes: int = DEFAULT_MAX_BYTES
               ) -> dict[str, Any]:
    """A FHIR JSON (or XML) body as a dict; ParseError (location 'line:col' or FHIRPath).

    Rejects: over `max_bytes` (FhirError 413), non-UTF-8, JSON syntax errors, NaN/Infinity,
    duplicate keys (FHIR forbids them), nesting too deep, and a top level that is not an object
    with a string resourceType. A leading UTF-8 BOM is tolerated.
    """
    if fmt == "xml":
        from .xml import parse_xml  # lxml and the XML models load only when XML is used

        return parse_xml(body, max_bytes)
    if fmt != "json":
        raise unsupported_media(f"format {fmt!r}", sorted(JSON_TYPES | XML_TYPES))
    if len(body) > max_bytes:
        raise too_large(len(body), max_bytes)
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        col = exc.start - (body.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ParseError(f"body is not valid UTF-8 (byte {exc.start}, line {line} column {col})",
                         f"{line}:{col}") from None
    if not text.strip():
        raise ParseError("the body is empty; a FHIR resource was expected", "1:1")
    hook = _DuplicateKeys()
    try:
        data = json.loads(text, object_pairs_hook=hook, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                         f"{exc.lineno}:{exc.colno}") from None
    except ValueError as exc:
        raise ParseError(f"invalid JSON: {exc}", None) from None
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply", None) from None
    if not isinstance(data, dict):
        raise ParseError(f"the body must be a JSON object (a FHIR resource), not a "
                         f"{type(data).__name__}", "1:1")
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise ParseError("the body has no resourceType; a FHIR resource was expected",
                         None)
    if hook.found:
        where = [f"{_find(data, target, resource_type) or resource_type}.{key}"
                 for target, key in hook.found]
        raise ParseError(f"duplicate JSON key {hook.found[0][1]!r} (FHIR JSON forbids repeated "
                         f"keys; found at {', '.join(where)})", where[0])
    return data


def dump_json(resource: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a response body."""
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- conditional create (If-None-Exist) and versions (ETag / If-Match) -------------------------

_ETAG = re.compile(r'(?:W/)?"?([A-Za-z0-9\-.]{1,64})"?')
_CONDITIONAL_PARAMS = ("identifier", "_id")


def parse_etag(value: str, expression: str | None = None) -> str:
    """The version in an If-Match / ETag value (W/"3", "3" or 3); FhirError 400 otherwise."""
    m = _ETAG.fullmatch(value.strip())
    if not m:
        raise bad_request(f"{value!r} is not a FHIR version ETag such as W/\"3\"", expression,
                          code="value")
    return m[1]


def _split_token(value: str) -> tuple[str | None, str]:
    """FHIR token 'system|code' (with \\| escapes) -> (system or None for any, code)."""
    parts, buf, i = [], "", 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            buf, i = buf + value[i + 1], i + 2
            continue
        if ch == "|" and not parts:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
        i += 1
    return (parts[0], buf) if parts else (None, buf)


def parse_if_none_exist(query: str, resource_type: str | None = None) -> list[tuple[str, str]]:
    """If-None-Exist as [(param, value)]: identifier=system|value, identifier=value, _id=x.

    Parameters are joined with & (all must match); a leading '?' or 'Type?' is tolerated;
    anything else (other parameters, modifiers, OR lists) is FhirError 400.
    """
    text = query.strip()
    head, sep, rest = text.partition("?")
    if sep and (not head or head == resource_type):
        text = rest
    if not text:
        raise bad_request("If-None-Exist is empty", code="required")
    out = []
    for part in text.split("&"):
        name, eq, value = part.partition("=")
        name, value = unquote(name), unquote(value)
        if name not in _CONDITIONAL_PARAMS or not eq:
            raise bad_request(f"conditional create supports only identifier and _id, not "
                              f"{name!r}", code="not-supported")
        if not value or "," in value.replace("\\,", ""):
            raise bad_request(f"{name} needs exactly one value", code="value")
        if name == "identifier" and not _split_token(value)[1]:
            raise bad_request("identifier=system| (any value) may match many resources; give a "
                              "value", code="value")
        out.append((name, value))
    return out


def _key_part(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def identifier_keys(resource: dict[str, Any]) -> list[str]:
    """Index keys for conditional lookups: 'Type|system|value', 'Type|value' and 'Type/id'.

    Per identifier: 'Type|system|value' (system '' when absent, as FHIR '|value' means) and
    'Type|value' (any system); '|' and '\\' inside system/value are escaped with '\\'.
    """
    rtype = resource.get("resourceType", "")
    keys: list[str] = []
    for ident in resource.get("identifier") or ():
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            value = _key_part(ident["value"])
            system = _key_part(ident.get("system") or "")
            keys += [f"{rtype}|{system}|{value}", f"{rtype}|{value}"]
    if isinstance(resource.get("id"), str):
        keys.append(f"{rtype}/{resource['id']}")
    return list(dict.fromkeys(keys))


def criteria_keys(resource_type: str, criteria: list[tuple[str, str]]) -> list[str]:
    """The keys a resource must all have (see identifier_keys) to match the criteria."""
    keys = []
    for name, value in criteria:
        if name == "_id":
            keys.append(f"{resource_type}/{value}")
            continue
        system, code = _split_token(value)
        keys.append(f"{resource_type}|{_key_part(code)}" if system is None
                    else f"{resource_type}|{_key_part(system)}|{_key_part(code)}")
    return keys


def criteria_match(resource: dict[str, Any], criteria: list[tuple[str, str]]) -> bool:
    """True if the resource satisfies the If-None-Exist criteria (for in-memory stores)."""
    have = set(identifier_keys(resource))
    return all(k in have for k in criteria_keys(resource.get("resourceType", ""), criteria))
