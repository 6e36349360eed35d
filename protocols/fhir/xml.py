"""FHIR XML in and out: read into the same dict the JSON path uses, write from stored JSON.

Reading: the body is first parsed by a locked-down lxml parser (no DTD, no entities, no
network, no huge trees); a DOCTYPE is refused outright, as FHIR XML never has one. The root
element names the resource type and must be in the FHIR namespace; fhir.resources (R4B models,
which read R4) then reads the XML and gives back FHIR JSON, so validation, storage and the
channel see JSON whatever the client sent (normalised as the models write it: instants with
microseconds, narrative XHTML re-serialised). Writing: the JSON answer is read by the same models
and written as XML (element order, value attributes, xhtml narrative).
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from lxml import etree

from engine.errors import ParseError

from .outcome import FhirError, outcome_from_pydantic, too_large

__all__ = ["FHIR_NS", "parse_xml", "to_xml"]

FHIR_NS = "http://hl7.org/fhir"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          dtd_validation=False, huge_tree=False, remove_comments=True)


def parse_xml(body: bytes, max_bytes: int) -> dict[str, Any]:
    """A FHIR XML body as the FHIR JSON dict; ParseError (located) when it is not one."""
    if len(body) > max_bytes:
        raise too_large(len(body), max_bytes)
    if not body.strip():
        raise ParseError("the body is empty; a FHIR resource was expected", "1:1")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in body:
            raise ParseError("a DOCTYPE is not allowed in FHIR XML", "1:1") from None
        line, col = exc.position if exc.position else (1, 1)
        raise ParseError(f"invalid XML: {exc.msg}", f"{line}:{col}") from None
    if root.getroottree().docinfo.doctype:
        raise ParseError("a DOCTYPE is not allowed in FHIR XML", "1:1")
    qname = etree.QName(root)
    if qname.namespace != FHIR_NS:
        raise ParseError(f"the root element <{qname.localname}> is not in the FHIR namespace "
                         f"{FHIR_NS}", qname.localname)
    try:
        model = get_fhir_model_class(qname.localname)
    except (KeyError, ValueError):
        raise ParseError(f"unknown resource type {qname.localname!r}", qname.localname) from None
    try:
        resource = model.model_validate_xml(body)
    except pydantic.ValidationError as exc:  # as the JSON path answers: 400 or 422
        issues = outcome_from_pydantic(exc, qname.localname, "")
        raise FhirError(400 if any(i.code == "structure" for i in issues) else 422,
                        issues) from None
    except (ValueError, TypeError, etree.LxmlError) as exc:
        raise ParseError(f"XML does not make a valid {qname.localname}: {exc}",
                         qname.localname) from None
    data: dict[str, Any] = json.loads(resource.model_dump_json())
    return data


def to_xml(json_body: bytes) -> bytes | None:
    """The FHIR XML of a JSON resource body; None when the models cannot write it."""
    try:
        data = json.loads(json_body)
        model = get_fhir_model_class(data["resourceType"])
        written = model.model_validate(data).model_dump_xml()
    except (ValueError, KeyError, TypeError, pydantic.ValidationError):
        return None
    return written if isinstance(written, bytes) else written.encode("utf-8")
