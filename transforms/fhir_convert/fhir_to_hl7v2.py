"""FHIR ChargeItem (alone or in a Bundle with its Patient, Encounter, Device, Practitioners,
Organizations) -> HL7 v2.5.1 DFT^P03, for billing systems that only take v2.

One FT1 per ChargeItem: FT1-2 transaction id, FT1-4 transaction date, FT1-5 posting date,
FT1-6 type CG, FT1-7 transaction code, FT1-10 quantity, FT1-11 extended amount, FT1-12 unit
amount, FT1-13 department (cost center), FT1-19 diagnoses (reason), FT1-20 performed by,
FT1-21 ordered by, FT1-24 entered by, FT1-25 procedure code. v2.5.1 has no item-number field
(FT1-34 came with v2.6), so the supplied item travels as a code: the ChargeItem's charge code
goes to FT1-7 (or, without one, the product Device's identifier); a CPT/HCPCS code (of the
charge, else of the product) goes to FT1-25. Every value is escaped (``\\F\\ \\S\\ ...``).
"""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from engine.errors import ValidationError
from protocols.hl7v2.message import Hl7Message

from . import codes

PROCEDURE_SYSTEMS = ("http://www.ama-assn.org/go/cpt",
                     "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                     "urn:oid:2.16.840.1.113883.6.285", "urn:oid:2.16.840.1.113883.6.12")
ENCOUNTER_CLASS = {"IMP": "I", "ACUTE": "I", "NONAC": "I", "AMB": "O", "EMER": "E",
                   "PRENC": "P", "OBSENC": "O", "SS": "O", "HH": "O", "VR": "O"}
GENDER = {"male": "M", "female": "F", "other": "O", "unknown": "U"}


@lru_cache(maxsize=1)
def _system_names() -> dict[str, str]:
    """FHIR system URI -> HL7 coding-system name (first name in code_systems.csv wins)."""
    out: dict[str, str] = {}
    with (codes.table_dir() / "code_systems.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["uri"].strip(), row["hl7"].strip())
    return out


def system_name(uri: str | None) -> str:
    """The HL7 coding-system name for a FHIR system URI (the converter's example URIs and
    urn:oid: URIs map back to their name / OID)."""
    if not uri:
        return ""
    known = _system_names().get(uri)
    if known:
        return known
    for prefix in (codes.EXAMPLE_CODE_SYSTEM, codes.EXAMPLE_IDENTIFIER, "urn:oid:"):
        if uri.startswith(prefix):
            return uri[len(prefix):]
    return uri


def hl7_datetime(value: str | None) -> str:
    """FHIR date/dateTime -> HL7 DTM (YYYYMMDD[HHMM[SS[.S]]][+ZZZZ])."""
    if not value:
        return ""
    date_part, _, time_part = value.partition("T")
    out = date_part.replace("-", "")
    if not time_part:
        return out
    zone = ""
    if time_part.endswith("Z"):
        time_part, zone = time_part[:-1], "+0000"
    elif len(time_part) > 6 and time_part[-6] in "+-":
        time_part, zone = time_part[:-6], time_part[-6:].replace(":", "")
    return out + time_part.replace(":", "") + zone


def _codings(concept: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept (empty when absent)."""
    return [c for c in (concept or {}).get("coding", []) if isinstance(c, dict) and c.get("code")]


def _ce(coding: dict[str, Any] | None) -> list[str]:
    """Coding -> CWE components: code, text, coding-system name."""
    if not coding:
        return []
    return [coding.get("code", ""), coding.get("display", ""), system_name(coding.get("system"))]


def _money(money: dict[str, Any] | None) -> list[list[str]]:
    """Money -> CP.1 MO as subcomponents (quantity & denomination)."""
    if not money or money.get("value") is None:
        return []
    return [[_number(money["value"]), money.get("currency", "")]]


def _number(value: Any) -> str:
    """A JSON number as HL7 NM text."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


class _Resolver:
    """Finds the resources a ChargeItem points at inside the input Bundle."""

    def __init__(self, resources: list[dict[str, Any]], urls: dict[str, dict[str, Any]]) -> None:
        self.by_ref = dict(urls)
        for res in resources:
            if res.get("id"):
                self.by_ref[f"{res['resourceType']}/{res['id']}"] = res

    def get(self, reference: dict[str, Any] | None, rtype: str | None = None
            ) -> dict[str, Any] | None:
        """The resource a Reference points at (contained/absent -> None)."""
        if not reference or not isinstance(reference.get("reference"), str):
            return None
        found = self.by_ref.get(reference["reference"])
        if found is not None and rtype and found.get("resourceType") != rtype:
            return None
        return found


def _collect(document: dict[str, Any]) -> tuple[list[dict[str, Any]], _Resolver]:
    """The ChargeItems of the input and a resolver for their references."""
    rtype = document.get("resourceType")
    if rtype == "ChargeItem":
        return [document], _Resolver([document], {})
    if rtype != "Bundle":
        raise ValidationError(f"expected a ChargeItem or a Bundle, got {rtype!r}",
                              location="resourceType")
    resources, urls = [], {}
    for entry in document.get("entry", []):
        res = entry.get("resource")
        if isinstance(res, dict):
            resources.append(res)
            if entry.get("fullUrl"):
                urls[entry["fullUrl"]] = res
    items = [r for r in resources if r.get("resourceType") == "ChargeItem"]
    if not items:
        raise ValidationError("the Bundle holds no ChargeItem", location="Bundle.entry")
    return items, _Resolver(resources, urls)


def _put(msg: Hl7Message, path: str, value: Any) -> None:
    """Set an escaped value at `path` when there is one."""
    if value is None or value == "":
        return
    msg.set(path, value if isinstance(value, str) else _number(value))


def _put_parts(msg: Hl7Message, path: str, parts: list[Any]) -> None:
    """Set components 1..n (a nested list sets subcomponents) of the element at `path`."""
    for i, part in enumerate(parts, start=1):
        if isinstance(part, list):
            for j, sub in enumerate(part, start=1):
                _put(msg, f"{path}.{i}.{j}", sub)
        else:
            _put(msg, f"{path}.{i}", part)


def _identifier_cx(ident: dict[str, Any]) -> list[Any]:
    """Identifier -> CX components (id, -, -, assigning authority, type)."""
    type_code = next((c.get("code", "") for c in _codings(ident.get("type"))), "")
    return [ident.get("value", ""), "", "", system_name(ident.get("system")), type_code]


def _xcn(practitioner: dict[str, Any] | None) -> list[Any]:
    """Practitioner -> XCN (id, family, given, ..., assigning authority)."""
    if not practitioner:
        return []
    ident = next(iter(practitioner.get("identifier", [])), {})
    name = next(iter(practitioner.get("name", [])), {})
    given = name.get("given", [])
    return [ident.get("value", ""), name.get("family", ""), given[0] if given else "",
            given[1] if len(given) > 1 else "", "", "", "", "",
            system_name(ident.get("system"))]


def _split_codes(item: dict[str, Any], product: dict[str, Any] | None
                 ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(FT1-7 transaction code, FT1-25 procedure code) for a ChargeItem (see module doc)."""
    charge = _codings(item.get("code"))
    procedure = next((c for c in charge if c.get("system") in PROCEDURE_SYSTEMS), None)
    transaction = next((c for c in charge if c is not procedure), None) or procedure
    product_codes = _codings(item.get("productCodeableConcept"))
    if product is not None:
        product_codes += _codings(product.get("type"))
    if procedure is None:
        procedure = next((c for c in product_codes if c.get("system") in PROCEDURE_SYSTEMS),
                         None)
    if transaction is None and product is not None:
        ident = next(iter(product.get("identifier", [])), {})
        if ident.get("value"):
            name = next(iter(product.get("deviceName", [])), {}).get("name", "")
            transaction = {"code": ident["value"], "display": name,
                           "system": ident.get("system")}
    if transaction is None and product_codes:
        transaction = product_codes[0]
    if procedure is transaction:
        procedure = None if transaction in charge else procedure
    return transaction, procedure


def _ft1(msg: Hl7Message, n: int, item: dict[str, Any], res: _Resolver) -> None:
    """One ChargeItem -> FT1[n]."""
    p = f"FT1[{n}]"
    _put(msg, f"{p}-1", str(n))
    ident = next(iter(item.get("identifier", [])), {})
    _put(msg, f"{p}-2", ident.get("value"))
    when = item.get("occurrenceDateTime") or (item.get("occurrencePeriod") or {}).get("start")
    _put(msg, f"{p}-4", hl7_datetime(when))
    _put(msg, f"{p}-5", hl7_datetime(item.get("enteredDate")))
    _put(msg, f"{p}-6", "CG")
    product = res.get(item.get("productReference"), "Device")
    transaction, procedure = _split_codes(item, product)
    _put_parts(msg, f"{p}-7", _ce(transaction))
    quantity = (item.get("quantity") or {}).get("value")
    _put(msg, f"{p}-10", quantity)
    price = item.get("priceOverride")
    _put_parts(msg, f"{p}-11", _money(price))
    if price and price.get("value") is not None and quantity:
        unit = {"value": round(float(price["value"]) / float(quantity), 4),
                "currency": price.get("currency", "")}
        _put_parts(msg, f"{p}-12", _money(unit))
    department = res.get(item.get("costCenter"), "Organization")
    if department:
        dept_id = next(iter(department.get("identifier", [])), {})
        _put_parts(msg, f"{p}-13", [dept_id.get("value", ""), department.get("name", ""),
                                    system_name(dept_id.get("system"))])
    for rep, reason in enumerate(item.get("reason", []), start=1):
        _put_parts(msg, f"{p}-19({rep})", _ce(next(iter(_codings(reason)), None)))
    performers = [res.get(perf.get("actor"), "Practitioner") for perf in item.get("performer", [])]
    _put_parts(msg, f"{p}-20", _xcn(next((x for x in performers if x), None)))
    _put_parts(msg, f"{p}-24", _xcn(res.get(item.get("enterer"), "Practitioner")))
    _put_parts(msg, f"{p}-25", _ce(procedure))


def _patient(msg: Hl7Message, patient: dict[str, Any] | None, item: dict[str, Any]) -> None:
    """Patient -> PID (identifiers, name, birth date, sex)."""
    _put(msg, "PID-1", "1")
    idents = (patient or {}).get("identifier", [])
    if not idents and isinstance(item.get("subject"), dict):
        idents = [item["subject"]["identifier"]] if item["subject"].get("identifier") else []
    for rep, ident in enumerate(idents, start=1):
        _put_parts(msg, f"PID-3({rep})", _identifier_cx(ident))
    if not idents:
        raise ValidationError("the ChargeItem's patient has no identifier",
                              location="ChargeItem.subject")
    name = next(iter((patient or {}).get("name", [])), {})
    given = name.get("given", [])
    _put_parts(msg, "PID-5", [name.get("family", ""), given[0] if given else "",
                              given[1] if len(given) > 1 else ""])
    _put(msg, "PID-7", hl7_datetime((patient or {}).get("birthDate")))
    _put(msg, "PID-8", GENDER.get((patient or {}).get("gender", ""), ""))


def _visit(msg: Hl7Message, encounter: dict[str, Any] | None,
           account: dict[str, Any] | None) -> None:
    """Encounter (+ Account) -> PV1 (patient class, visit number)."""
    _put(msg, "PV1-1", "1")
    klass = (encounter or {}).get("class", {}).get("code", "")
    _put(msg, "PV1-2", ENCOUNTER_CLASS.get(klass, "U" if not klass else "O"))
    visit = next((i for i in (encounter or {}).get("identifier", [])
                  if any(c.get("code") == "VN" for c in _codings(i.get("type")))), None)
    visit = visit or next(iter((encounter or {}).get("identifier", [])), None)
    visit = visit or next(iter((account or {}).get("identifier", [])), None)
    if visit:
        _put_parts(msg, "PV1-19", _identifier_cx(visit)[:4])


def chargeitems_to_dft(document: dict[str, Any], *, sending_application: str = "PLEXUS",
                       sending_facility: str = "", receiving_application: str = "",
                       receiving_facility: str = "", control_id: str | None = None,
                       timestamp: datetime | None = None, processing_id: str = "P") -> str:
    """A ChargeItem (or a Bundle of ChargeItems for one patient) -> DFT^P03 v2.5.1 (ER7 text)."""
    items, res = _collect(document)
    first = items[0]
    patient = res.get(first.get("subject"), "Patient")
    if control_id is None:
        seed = "|".join(i.get("id", "") or str(i.get("identifier")) for i in items)
        control_id = hashlib.sha1(seed.encode()).hexdigest()[:20].upper()
    now = timestamp or datetime.now(UTC)
    stamp = now.strftime("%Y%m%d%H%M%S") + now.strftime("%z")
    msg = Hl7Message.parse("MSH|^~\\&|")
    for path, value in (("MSH-3", sending_application), ("MSH-4", sending_facility),
                        ("MSH-5", receiving_application), ("MSH-6", receiving_facility),
                        ("MSH-7", stamp), ("MSH-9.1", "DFT"), ("MSH-9.2", "P03"),
                        ("MSH-9.3", "DFT_P03"), ("MSH-10", control_id),
                        ("MSH-11", processing_id), ("MSH-12", "2.5.1")):
        _put(msg, path, value)
    _put(msg, "EVN-1", "P03")
    _put(msg, "EVN-2", stamp)
    _patient(msg, patient, first)
    _visit(msg, res.get(first.get("context"), "Encounter"),
           res.get(next(iter(first.get("account", [])), None), "Account"))
    for n, item in enumerate(items, start=1):
        _ft1(msg, n, item, res)
    return msg.encode()
