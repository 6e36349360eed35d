"""The state of one HL7 v2 -> FHIR conversion, shared by converters and the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .bundle import BundleBuilder
from .values import Seg


@dataclass
class Options:
    """Conversion options.

    timezone: ``preserve`` keeps each timestamp's own offset; ``utc`` converts to Z; an offset
    such as ``+05:30`` converts every timestamp that has an offset to that offset.
    naive_offset: offset assumed for timestamps with a time but no offset (FHIR needs one).
    supply_delivery: DFT FT1 supply items also become SupplyDelivery resources (and, for v2.5.1
    messages without FT1-34, the FT1-7 charge code names the supplied item).
    """

    timezone: str = "preserve"
    naive_offset: str = "Z"
    supply_delivery: bool = True


@dataclass
class Ctx:
    """One conversion: the bundle being built, options and the current group's references."""

    builder: BundleBuilder
    options: Options
    message_type: str = ""
    refs: dict[str, Any] = field(default_factory=dict)
    segment: Seg | None = None

    def ref(self, name: str) -> Any:
        """A reference recorded earlier in this conversion (e.g. 'patient'), or None."""
        return self.refs.get(name)
