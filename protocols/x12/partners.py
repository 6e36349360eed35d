"""Trading partners: who we are in X12, who may send to us, and how each is acknowledged."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from engine.connector import StrictModel
from engine.errors import ConfigError

_QUALIFIER = r"^[0-9A-Z]{2}$"
_ID = r"^[0-9A-Za-z ._-]{1,15}$"


class Us(StrictModel):
    """Our own interchange id."""

    qualifier: str = Field(pattern=_QUALIFIER, description="ISA07 qualifier, e.g. ZZ or 01")
    id: str = Field(pattern=_ID, description="ISA08 id (up to 15 characters)")
    gs_id: str | None = Field(default=None, description="GS03 application code (default: id)")


class Partner(StrictModel):
    """One trading partner and its acknowledgment policy."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="used in control counters")
    qualifier: str = Field(pattern=_QUALIFIER, description="their ISA05 qualifier")
    id: str = Field(pattern=_ID, description="their ISA06 id")
    gs_id: str | None = Field(default=None, description="their GS02 code (default: id)")
    ack: Literal["997", "999", "auto", "none"] = Field(
        default="auto", description="997 | 999 | auto (999 for HIPAA 005010X groups, else "
        "997) | none")
    ta1: Literal["always", "on-request", "on-error", "never"] = Field(
        default="on-request", description="on-request: when ISA14=1 or the interchange is "
        "rejected; on-error: only when rejected")
    usage: Literal["P", "T", "any"] = Field(default="any",
                                            description="ISA15 accepted from them")
    element: str = Field(default="*", min_length=1, max_length=1,
                         description="element separator of what we send them")
    component: str = Field(default=":", min_length=1, max_length=1,
                           description="component separator (ISA16)")
    repetition: str = Field(default="^", min_length=1, max_length=1,
                            description="repetition separator (ISA11, 00402 and later)")
    terminator: str = Field(default="~", min_length=1, max_length=1,
                            description="segment terminator")
    version: str = Field(default="00401", pattern=r"^00[2-9]\d\d$",
                         description="ISA12 of interchanges we send")
    gs_version: str = Field(default="004010", description="GS08 of groups we send")

    @model_validator(mode="after")
    def _distinct_delimiters(self) -> Partner:
        used = [self.element, self.component, self.repetition, self.terminator]
        if len(set(used)) != 4 or any(c.isalnum() or c == " " for c in used):
            raise ValueError("element, component, repetition and terminator must be four "
                             "different characters, none a letter, digit or space")
        return self


class PartnersFile(StrictModel):
    """configs/partners.yaml."""

    us: Us
    partners: list[Partner] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> PartnersFile:
        seen: set[tuple[str, str]] = set()
        names: set[str] = set()
        for p in self.partners:
            key = (p.qualifier, p.id)
            if key in seen or p.name in names:
                raise ValueError(f"partner {p.name} ({p.qualifier}/{p.id}) is listed twice")
            seen.add(key)
            names.add(p.name)
        return self

    def find(self, qualifier: str, sender_id: str) -> Partner | None:
        """The partner with this ISA05/ISA06 (ids compared without padding)."""
        sender_id = sender_id.strip()
        for p in self.partners:
            if p.qualifier == qualifier.strip() and p.id == sender_id:
                return p
        return None

    def is_us(self, qualifier: str, receiver_id: str) -> bool:
        """True when ISA07/ISA08 name us."""
        return qualifier.strip() == self.us.qualifier and receiver_id.strip() == self.us.id


def load_partners(path: str | Path) -> PartnersFile:
    """Read and check a partners file; ConfigError with file:line:col on any problem."""
    import pydantic

    from engine.config import ConfigErrors, located_errors  # one format for every YAML file
    from engine.yaml_loader import load_yaml

    text_path = Path(path)
    try:
        text = text_path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read partners file: {exc}", str(path)) from None
    doc = load_yaml(text, str(path))
    try:
        return PartnersFile.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise ConfigErrors(located_errors(doc, exc)) from None
