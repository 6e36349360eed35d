"""X12 supply-chain transaction sets <-> canonical documents (transforms.supply).

`from_x12(ts, group, interchange)` maps an inbound 850, 855, 856, 810, 820 or 832 set;
`to_x12(doc, sender, receiver, control_numbers)` writes a PurchaseOrder (850), Remittance (820),
OrderAcknowledgment (855), Invoice (810) or ShipNotice (856) as one interchange;
`to_transaction_set(doc, number, delimiters)` writes only its ST..SE (for batching).
"""

from .mapping import (
    INBOUND_SETS,
    OUTBOUND_SETS,
    ControlNumbers,
    from_x12,
    to_transaction_set,
    to_x12,
)

__all__ = ["INBOUND_SETS", "OUTBOUND_SETS", "ControlNumbers", "from_x12", "to_transaction_set",
           "to_x12"]
