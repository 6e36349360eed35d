"""Validate one FHIR R4 resource: R4B model + strict FHIR JSON form + supply-chain business rules.

Statuses (FHIR R4 http.html): an unknown or unserved resourceType is 404 on a type endpoint and
400 inside a Bundle (the POST / endpoint exists; the entry is bad). Issues of code `structure`
(unknown element, wrong JSON kind, null or empty value) mean the body is not valid FHIR JSON:
400. Everything else (missing required element, bad value, code outside a required binding,
wrong reference target, business rule) is 422 Unprocessable Entity.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable, Collection, Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, NamedTuple, Union, get_args, get_origin

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from .outcome import FhirError, Issue, bad_request, outcome_from_pydantic, unknown_type

__all__ = ["RULES", "check_create", "check_id", "check_type", "check_update", "resource_model",
           "validate_resource"]

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: R4B resource types that do not exist in R4 (4.0.1): the R4B models must not accept them.
_NOT_R4 = frozenset({
    "AdministrableProductDefinition", "Citation", "ClinicalUseDefinition", "EvidenceReport",
    "Ingredient", "ManufacturedItemDefinition", "MedicinalProductDefinition", "NutritionProduct",
    "PackagedProductDefinition", "RegulatedAuthorization", "SubscriptionStatus",
    "SubscriptionTopic", "SubstanceDefinition", "Resource", "DomainResource",
})
#: R5 element names clients send by mistake, with the R4 way to say it.
_R5_HINTS = {
    ("ChargeItem", "product"): "R5 element; R4 uses productReference or productCodeableConcept",
    ("ChargeItem", "encounter"): "R5 element; R4 uses context",
    ("ChargeItem", "unitPriceComponent"): "R5 element; R4 uses priceOverride / factorOverride",
    ("ChargeItem", "totalPriceComponent"): "R5 element; R4 uses priceOverride / factorOverride",
    ("Device", "name"): "R5 element; R4 uses deviceName[].name with deviceName[].type",
    ("Device", "displayName"): "R5 element; R4 uses deviceName",
    ("Invoice", "creation"): "R5 element; R4 uses date",
    ("SupplyDelivery", "suppliedItem"): "R4 has one suppliedItem (an object); R5 has a list",
}


@lru_cache(maxsize=512)  # bounded: resourceType comes from clients
def resource_model(resource_type: str) -> Any:
    """The cached R4B model class of an R4 resource type, or None if it is not one."""
    if resource_type in _NOT_R4:
        return None
    try:
        model = get_fhir_model_class(resource_type)
    except (ValueError, KeyError, AttributeError):
        return None
    return model if issubclass(model, get_fhir_model_class("Resource")) else None


def check_type(resource_type: Any, allowed_types: Collection[str], path_prefix: str = ""
               ) -> Any:
    """The model class for resource_type; FhirError 404 (400 inside a bundle) if not served."""
    expr = f"{path_prefix}.resourceType" if path_prefix else None
    if not isinstance(resource_type, str) or not resource_type:
        raise bad_request("resourceType is missing", expr or "resourceType", code="required")
    model = resource_model(resource_type) if resource_type in allowed_types else None
    if model is None:
        if path_prefix:
            err = unknown_type(resource_type, expr)
            raise FhirError(400, err.issues)
        raise unknown_type(resource_type)
    return model


def check_id(value: Any, expression: str) -> None:
    """400 unless value is a valid FHIR id ([A-Za-z0-9-.]{1,64})."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise bad_request(f"{value!r} is not a valid FHIR id ([A-Za-z0-9-.], 1-64 chars)",
                          expression, code="value")


def check_create(resource: dict[str, Any], url_type: str) -> None:
    """400 unless a POST /{url_type} body is a resource of that type (its id is ignored)."""
    if resource.get("resourceType") != url_type:
        raise bad_request(f"resourceType {resource.get('resourceType')!r} does not match the "
                          f"URL type {url_type!r}", f"{url_type}.resourceType")


def check_update(resource: dict[str, Any], url_type: str, url_id: str) -> None:
    """400 unless a PUT /{type}/{id} body has that type and the same id (FHIR: id required)."""
    check_create(resource, url_type)
    check_id(url_id, f"{url_type}.id")
    if resource.get("id") != url_id:
        raise bad_request(f"resource id {resource.get('id')!r} must equal the URL id {url_id!r}",
                          f"{url_type}.id")


# -- the FHIR JSON form, from the R4B models' field annotations --------------------------------

class _Field(NamedTuple):
    kind: str  # boolean | integer | decimal | string | element | resource
    many: bool
    model: Any
    codes: frozenset[str] | None
    targets: frozenset[str] | None


_TABLES: dict[Any, dict[str, _Field]] = {}
_ENCOUNTER = frozenset({"planned", "arrived", "triaged", "in-progress", "onleave", "finished",
                        "cancelled", "entered-in-error", "unknown"})
#: R4 required bindings whose fhir.resources list (parsed from the short text) is wrong or cut.
_CODES: dict[tuple[str, str], frozenset[str] | None] = {
    ("SupplyRequest", "status"): frozenset({"draft", "active", "suspended", "cancelled",
                                            "completed", "entered-in-error", "unknown"}),
    ("Encounter", "status"): _ENCOUNTER, ("EncounterStatusHistory", "status"): _ENCOUNTER,
    ("DeviceUdiCarrier", "entryType"): frozenset({"barcode", "rfid", "manual", "card",
                                                  "self-reported", "unknown"}),
    ("CapabilityStatement", "format"): None,  # any mime type; the generated list is garbage
}
_KINDS = {bool: "boolean", int: "integer", Decimal: "decimal"}
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "a number", float: "a number", type(None): "null"}


def _field(annotation: Any, extra: dict[str, Any]) -> _Field:
    many, ann = False, annotation
    while True:
        origin = get_origin(ann)
        if origin in (Union, types.UnionType):
            ann = next(a for a in get_args(ann) if a is not type(None))
        elif origin is list:
            many, ann = True, get_args(ann)[0]
        elif origin is Annotated:
            ann = get_args(ann)[0]
        else:
            break
    codes = frozenset(extra.get("enum_values") or ()) or None
    if codes and codes & {"+", "etc."}:  # generated from the short text: an incomplete list
        codes = None
    targets = frozenset(extra["enum_reference_types"]) if extra.get("enum_reference_types") \
        else None
    if getattr(ann, "__name__", "") == "ResourceType":
        return _Field("resource", many, None, None, None)
    if hasattr(ann, "get_model_klass"):
        return _Field("element", many, ann.get_model_klass(), None, targets)
    return _Field(_KINDS.get(ann, "string"), many, None, codes, None)


def _table(model: Any) -> dict[str, _Field]:
    table = _TABLES.get(model)
    if table is None:
        table = {f.alias or name: _field(f.annotation, f.json_schema_extra or {})
                 for name, f in model.model_fields.items() if name != "fhir_comments"}
        for (owner, alias), codes in _CODES.items():
            if owner == model.__name__ and alias in table:
                table[alias] = table[alias]._replace(codes=codes)
        _TABLES[model] = table
    return table


_REF = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]+)?$")
_CURRENCY = re.compile(r"[A-Z]{3}")
_QUANTITIES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity",
                         "MoneyQuantity"})


def _element_rules(name: str, value: dict[str, Any], path: str, out: list[Issue]) -> None:
    """FHIR datatype invariants the R4B models do not check."""
    if name == "Money" and "currency" in value:
        cur = value["currency"]
        if isinstance(cur, str) and not _CURRENCY.fullmatch(cur):
            out.append(Issue("code-invalid", f"currency {cur!r} is not an ISO 4217 code "
                             "(e.g. USD)", (f"{path}.currency",)))
    elif name in _QUANTITIES and "code" in value and "system" not in value:
        out.append(Issue("invariant", "qty-3: a Quantity with a unit code needs a system",
                         (f"{path}.system",)))


def _check_target(ref: str, targets: frozenset[str], path: str, out: list[Issue]) -> None:
    """A literal reference must point at a type the element allows (R4B does not check)."""
    m = _REF.search(ref)
    if m and "Resource" not in targets and m[1] not in targets and resource_model(m[1]):
        out.append(Issue("value", f"reference {ref!r} points at a {m[1]}; this element allows "
                         f"{', '.join(sorted(targets))}", (f"{path}.reference",)))


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool)) else ""
    return text if len(text) <= 40 else text[:37] + "..."


def _check(f: _Field, v: Any, path: str, out: list[Issue], in_list: bool) -> None:
    kind = f.kind
    if v is None:
        if not in_list or kind == "resource" or (
                kind == "element" and f.model.__name__ != "FHIRPrimitiveExtension"):
            out.append(Issue("structure", "null is not allowed here in FHIR JSON; omit the "
                             "element", (path,)))
        return
    if kind == "element":
        if type(v) is not dict:
            out.append(Issue("structure", f"expected an object ({f.model.__name__}), got "
                             f"{_JSON_NAMES.get(type(v), 'a value')}", (path,)))
        elif not v:
            out.append(Issue("structure", "empty object: an element needs a value or children",
                             (path,)))
        else:
            _walk(f.model, v, path, out)
            _element_rules(f.model.__name__, v, path, out)
            if f.targets and isinstance(v.get("reference"), str):
                _check_target(v["reference"], f.targets, path, out)
    elif kind == "resource":
        rt = v.get("resourceType") if type(v) is dict else None
        model = resource_model(rt) if isinstance(rt, str) else None
        if model is None:
            out.append(Issue("structure", f"expected an R4 resource, got resourceType {rt!r}"
                             if rt else "expected a resource with a resourceType", (path,)))
        else:
            _walk(model, v, path, out)
    elif kind == "string":
        if type(v) is not str:
            out.append(Issue("structure", "expected a string, got "
                             f"{_JSON_NAMES.get(type(v), 'a value')}", (path,)))
        elif not v:
            out.append(Issue("structure", "empty string: omit the element instead", (path,)))
        elif f.codes is not None and v not in f.codes:
            out.append(Issue("code-invalid", f"{v!r} is not one of the required codes: "
                             f"{', '.join(sorted(f.codes))}", (path,)))
    elif not (type(v) is bool if kind == "boolean" else type(v) is int if kind == "integer"
              else type(v) in (int, float)):
        quoted = " (FHIR JSON does not quote numbers and booleans)" if type(v) is str else ""
        out.append(Issue("structure", f"expected a JSON {kind}, got "
                         f"{_JSON_NAMES.get(type(v), 'a value')} {_short(v)}{quoted}", (path,)))


def _walk(model: Any, data: dict[str, Any], path: str, out: list[Issue]) -> None:
    """Check data against the FHIR JSON form of model (unknown keys are left to pydantic)."""
    table = _table(model)
    for key, value in data.items():
        f = table.get(key)
        if f is None:
            if key == "fhir_comments":
                out.append(Issue("structure", "fhir_comments is not an R4 JSON element",
                                 (f"{path}.{key}",)))
            continue
        if not f.many:
            _check(f, value, f"{path}.{key}", out, False)
        elif type(value) is not list:
            out.append(Issue("structure", f"expected an array, got "
                             f"{_JSON_NAMES.get(type(value), 'a value')}", (f"{path}.{key}",)))
        elif not value:
            out.append(Issue("structure", "empty array: omit the element instead",
                             (f"{path}.{key}",)))
        else:
            for i, item in enumerate(value):
                _check(f, item, f"{path}.{key}[{i}]", out, True)


# -- business rules for the supply-chain and finance flows (table-driven) ----------------------

Rule = Callable[[dict[str, Any]], Iterable[tuple[str, str, str]]]  # -> (code, path, message)


def _get(resource: dict[str, Any], path: str) -> Any:
    node: Any = resource
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        if part.endswith("[x]"):
            stem = part[:-3]
            hits = [k for k in node if k.startswith(stem) and k[len(stem):][:1].isupper()]
            node = node[hits[0]] if hits else None
        else:
            node = node.get(part)
        if node is None:
            return None
    return node


def required(path: str) -> Rule:
    """The element at path must be present (if its parent is: a missing parent is reported once)."""
    parent = path.rpartition(".")[0]

    def rule(r: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
        if _get(r, path) is None and (not parent or _get(r, parent) is not None):
            yield "required", path, f"{path} is required"
    return rule


def any_of(*paths: str) -> Rule:
    """At least one of the elements must be present."""

    def rule(r: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
        if all(_get(r, p) is None for p in paths):
            yield "required", paths[0], f"one of {', '.join(paths)} is required"
    return rule


def quantity(path: str, unit: str = "never") -> Rule:
    """A Quantity, if present, needs a value; unit: 'always', 'fraction' (non-whole values)."""

    def rule(r: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
        q = _get(r, path)
        if not isinstance(q, dict):
            return
        value = q.get("value")
        if value is None:
            yield "required", f"{path}.value", f"{path} needs a value"
        has_unit = q.get("unit") or q.get("code")
        needs = unit == "always" or (unit == "fraction" and _get(r, "product[x]") is not None
                                     and isinstance(value, float) and not value.is_integer())
        if needs and not has_unit:
            yield "required", f"{path}.unit", f"{path} needs a unit or a unit code"
    return rule


def identifiers(system: bool = False) -> Rule:
    """Every identifier needs a value (and a system when the flow keys on system|value)."""

    def rule(r: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
        for i, ident in enumerate(r.get("identifier") or ()):
            if not isinstance(ident, dict):
                continue
            if not ident.get("value"):
                yield "required", f"identifier[{i}].value", "an identifier needs a value"
            if system and not ident.get("system"):
                yield "required", f"identifier[{i}].system", (
                    "an identifier here needs a system (it is matched as system|value)")
    return rule


#: resourceType -> rules; types not listed get _DEFAULT_RULES.
RULES: dict[str, tuple[Rule, ...]] = {
    "ChargeItem": (required("status"), required("code"), required("subject"),
                   quantity("quantity", unit="fraction"), identifiers(system=True)),
    "SupplyDelivery": (required("status"), required("suppliedItem"),
                       required("suppliedItem.quantity"),
                       quantity("suppliedItem.quantity", unit="always"), identifiers()),
    "SupplyRequest": (required("quantity"), required("item[x]"), quantity("quantity"),
                      identifiers()),
    "Device": (any_of("identifier", "udiCarrier"), identifiers(system=True)),
    "Invoice": (required("status"), identifiers(system=True)),
    "Claim": (required("patient"), required("provider"), required("insurance"), identifiers()),
}
_DEFAULT_RULES: tuple[Rule, ...] = (identifiers(),)


def validate_resource(resource: dict[str, Any], allowed_types: Collection[str],
                      path_prefix: str = "") -> dict[str, Any]:
    """Return resource unchanged if valid; else FhirError 404/400/422 with every issue found.

    path_prefix roots the FHIRPath expressions (e.g. 'Bundle.entry[2].resource'); without it
    they start with the resource type. One R4B model_validate per resource.
    """
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    model = check_type(resource_type, allowed_types, path_prefix)
    root = path_prefix or resource_type
    issues: list[Issue] = []
    _walk(model, resource, root, issues)
    try:
        model.model_validate(resource)
    except PydanticValidationError as exc:
        issues.extend(outcome_from_pydantic(exc, resource_type, path_prefix))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        if not issues:
            issues.append(Issue("structure", f"not a valid {resource_type}: {exc}", (root,)))
    for rule in RULES.get(resource_type, _DEFAULT_RULES):
        for code, path, message in rule(resource):
            issues.append(Issue(code, message, (f"{root}.{path}",)))
    if not issues:
        return resource
    seen: set[tuple[str, ...]] = set()
    unique = []
    for issue in issues:
        if issue.expression not in seen:
            seen.add(issue.expression)
            unique.append(_with_hint(issue, resource_type, root))
    status = 400 if any(i.code == "structure" for i in unique) else 422
    raise FhirError(status, unique)


def _with_hint(issue: Issue, resource_type: str, root: str) -> Issue:
    name = issue.expression[0][len(root) + 1:] if issue.expression else ""
    hint = _R5_HINTS.get((resource_type, name))
    if hint is None or issue.code != "structure":
        return issue
    return Issue(issue.code, f"{issue.diagnostics} ({hint})", issue.expression, issue.severity)
