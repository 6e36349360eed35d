"""HL7 v2 <-> FHIR R4 conversion.

``convert(text)`` turns an HL7 v2 message into a FHIR R4 batch Bundle (dict) with the mapping
tables in this package (tables*.py) and the CSV code tables in
``configs/code_tables/hl7v2_fhir/``; ``chargeitems_to_dft(resource)`` turns FHIR ChargeItems
back into an HL7 v2.5.1 DFT^P03.
"""

from __future__ import annotations

from .context import Options
from .fhir_to_hl7v2 import chargeitems_to_dft
from .hl7v2_to_fhir import PLANS, convert, plan_for

__all__ = ["PLANS", "Options", "chargeitems_to_dft", "convert", "plan_for"]
