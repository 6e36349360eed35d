"""Compare two FHIR Bundles on what matters for a converter, ignoring generated ids.

Each resource is reduced to a set of *facts*: its identifiers (system|value), its codes
(system|code of every Coding, keyed by the element path), its dates/dateTimes (keyed by path) and
its references, resolved to the referenced resource's type plus identifying content (its
identifiers, else its name, else its code). Element order, resource ids and fullUrl values do
not matter. Resources of the same type are paired by their best fact overlap; every fact one
side has and the other lacks, and every unpaired resource, is one difference.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_DATE = re.compile(r"\d{4}-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?)?)?")
_YEAR = re.compile(r"\d{4}")
_DATE_KEYS = re.compile(r"(?i).*(date|time|start|end|instant|issued|recorded|timestamp|period"
                        r"|occurrence|authored|effective|onset|abatement|created|birth)")
_SKIP = frozenset(("id", "text", "fullUrl", "div"))
_PLAIN = frozenset(("system", "code", "reference", "display", "url", "version"))
_CODING_KEYS = frozenset(("coding", "valueCoding", "class", "eventCoding", "tag", "security"))
_STRINGY = frozenset(("value", "name", "display", "family", "given", "line", "city", "district",
                      "state", "postalCode", "country", "description", "comment", "prefix",
                      "suffix", "valueString", "title"))


@dataclass
class Comparison:
    """The outcome of comparing an expected bundle with an actual one."""

    differences: list[str] = field(default_factory=list)
    expected_resources: int = 0
    actual_resources: int = 0

    @property
    def matches(self) -> bool:
        """True when no difference was found."""
        return not self.differences


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a bundle, in entry order (id-less resources, which FHIR-Converter emits
    for whitespace-only values and nothing can reference, are left out)."""
    return [e["resource"] for e in bundle.get("entry", [])
            if isinstance(e.get("resource"), dict) and e["resource"].get("id")]


def _index(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Reference text (Type/id, fullUrl) -> resource."""
    index: dict[str, dict[str, Any]] = {}
    if bundle.get("id"):
        index[f"Bundle/{bundle['id']}"] = {"resourceType": "Bundle",
                                           "identifier": bundle.get("identifier")}
    for entry in bundle.get("entry", []):
        res = entry.get("resource")
        if not isinstance(res, dict):
            continue
        if res.get("id"):
            index[f"{res.get('resourceType')}/{res['id']}"] = res
        if entry.get("fullUrl"):
            index[entry["fullUrl"]] = res
    return index


def _walk(node: Any, path: str, key: str) -> Iterator[tuple[str, str, Any]]:
    """(kind, path, value) for every identifier, coding, date and reference under node."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, path, key)
        return
    if isinstance(node, dict):
        is_identifier = key in ("identifier", "masterIdentifier")
        if is_identifier:
            yield "identifier", path, f"{node.get('system', '')}|{node.get('value', '')}"
        elif isinstance(node.get("code"), str) and ("system" in node or key in _CODING_KEYS):
            yield "code", path, f"{node.get('system', '')}|{node['code']}"
        if isinstance(node.get("reference"), str):
            yield "reference", path, node["reference"]
        for k, v in node.items():
            if k in _SKIP or k.startswith("_") or (isinstance(v, str) and k in _PLAIN):
                continue
            if is_identifier and k == "value":
                continue
            sub = f"{path}.{k}" if path else k
            if k in ("extension", "modifierExtension"):
                for ext in _as_list(v):
                    if isinstance(ext, dict):
                        yield from _walk(ext, f"{sub}[{ext.get('url', '')}]", k)
                continue
            yield from _walk(v, sub, k)
        return
    if isinstance(node, str) and key not in _STRINGY and (
            _DATE.fullmatch(node) or (_YEAR.fullmatch(node) and _DATE_KEYS.match(key))):
        yield "date", path, node


def identity(resource: dict[str, Any]) -> str:
    """Identifying content of a resource: identifiers, else name, else code."""
    ids = sorted(f"{i.get('system', '')}|{i.get('value', '')}"
                 for i in _as_list(resource.get("identifier")) if isinstance(i, dict))
    if ids:
        return ",".join(ids)
    name = resource.get("name")
    if isinstance(name, str):
        return f"name={name}"
    names = [n for n in _as_list(name) if isinstance(n, dict)]
    if names:
        n = names[0]
        return "name=" + " ".join([n.get("family", ""), *n.get("given", [])]).strip()
    code = resource.get("code")
    if isinstance(code, dict):
        codes = sorted(f"{c.get('system', '')}|{c.get('code', '')}"
                       for c in code.get("coding", []) if isinstance(c, dict))
        if codes:
            return "code=" + ",".join(codes)
    return ""


def _as_list(value: Any) -> list[Any]:
    """Value as a list (None -> [])."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def facts(resource: dict[str, Any], index: dict[str, dict[str, Any]]) -> frozenset[str]:
    """The comparable facts of one resource, references resolved through `index`."""
    out: set[str] = set()
    for kind, path, value in _walk(resource, "", ""):
        if kind == "reference":
            if value.endswith("/") or value == "urn:uuid:":
                continue  # a dangling link to an id-less resource
            target = index.get(value)
            if target is None:
                rtype = value.split("/")[0] if "/" in value and ":" not in value else "?"
                value = f"{rtype}(unresolved)"
            else:
                value = f"{target.get('resourceType')}({identity(target)})"
        out.add(f"{kind} {path} = {value}")
    return frozenset(out)


def _pair(expected: list[frozenset[str]], actual: list[frozenset[str]]
          ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Greedy pairing by largest overlap (then smallest difference)."""
    scores = []
    for i, e in enumerate(expected):
        for j, a in enumerate(actual):
            scores.append((-len(e & a), len(e ^ a), i, j))
    scores.sort()
    used_e: set[int] = set()
    used_a: set[int] = set()
    pairs = []
    for _, _, i, j in scores:
        if i in used_e or j in used_a:
            continue
        pairs.append((i, j))
        used_e.add(i)
        used_a.add(j)
    return (pairs, [i for i in range(len(expected)) if i not in used_e],
            [j for j in range(len(actual)) if j not in used_a])


def _header_facts(bundle: dict[str, Any]) -> frozenset[str]:
    """Bundle-level facts: type, identifier, timestamp and the request method of each type."""
    out = {f"bundle type = {bundle.get('type')}",
           f"bundle identifier = {bundle.get('identifier', {}).get('value', '')}",
           f"bundle timestamp = {bundle.get('timestamp', '')}"}
    for entry in bundle.get("entry", []):
        url = entry.get("request", {}).get("url", "")
        out.add(f"request {entry.get('request', {}).get('method')} {url.split('/')[0]}")
    return frozenset(out)


def compare_bundles(expected: dict[str, Any], actual: dict[str, Any]) -> Comparison:
    """Compare the resources of two bundles; see the module docstring."""
    result = Comparison()
    exp_head, act_head = _header_facts(expected), _header_facts(actual)
    result.differences += [f"Bundle: missing {f}" for f in sorted(exp_head - act_head)]
    result.differences += [f"Bundle: unexpected {f}" for f in sorted(act_head - exp_head)]
    by_type: dict[str, tuple[list[frozenset[str]], list[frozenset[str]], list[str], list[str]]]
    by_type = defaultdict(lambda: ([], [], [], []))
    for side, bundle in ((0, expected), (1, actual)):
        index = _index(bundle)
        for res in _entries(bundle):
            rtype = res.get("resourceType", "?")
            by_type[rtype][side].append(facts(res, index))
            by_type[rtype][side + 2].append(identity(res))
        if side == 0:
            result.expected_resources = len(_entries(bundle))
        else:
            result.actual_resources = len(_entries(bundle))
    for rtype in sorted(by_type):
        exp, act, exp_ids, act_ids = by_type[rtype]
        pairs, missing, extra = _pair(exp, act)
        for i, j in pairs:
            label = f"{rtype}({exp_ids[i]})"
            for fact in sorted(exp[i] - act[j]):
                result.differences.append(f"{label}: missing {fact}")
            for fact in sorted(act[j] - exp[i]):
                result.differences.append(f"{label}: unexpected {fact}")
        for i in missing:
            result.differences.append(f"missing resource {rtype}({exp_ids[i]})")
        for j in extra:
            result.differences.append(f"unexpected resource {rtype}({act_ids[j]})")
    return result
