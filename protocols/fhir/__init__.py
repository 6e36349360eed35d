"""The I/O-free FHIR R4 layer the FHIR listener and FHIR client destination share.

content     negotiation (Content-Type, Accept, _format, Prefer), strict JSON bodies,
            If-None-Exist criteria and their index keys, If-Match versions
validation  one resource: R4B model + FHIR JSON form + supply-chain business rules
bundle      POST / with a transaction or batch Bundle: plan, resolve, respond
outcome     FhirError, OperationOutcome, status lines, Location / ETag headers
capability  the CapabilityStatement for GET /metadata
"""

from .bundle import (
    BundlePlan,
    PlannedEntry,
    WriteResult,
    plan_bundle,
    resolve_conditional,
    response_bundle,
)
from .capability import capability_statement
from .content import (
    criteria_keys,
    criteria_match,
    dump_json,
    identifier_keys,
    negotiate_request,
    negotiate_response,
    parse_body,
    parse_etag,
    parse_if_none_exist,
    prefer_return,
)
from .outcome import FhirError, Issue, as_fhir_error, operation_outcome, response_headers
from .validation import check_create, check_type, check_update, validate_resource

__all__ = [
    "BundlePlan", "FhirError", "Issue", "PlannedEntry", "WriteResult", "as_fhir_error",
    "capability_statement", "check_create", "check_type", "check_update", "criteria_keys",
    "criteria_match", "dump_json", "identifier_keys", "negotiate_request", "negotiate_response",
    "operation_outcome", "parse_body", "parse_etag", "parse_if_none_exist", "plan_bundle",
    "prefer_return", "resolve_conditional", "response_bundle", "response_headers",
    "validate_resource",
]
