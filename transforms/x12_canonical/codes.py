"""X12 code tables <-> canonical vocabulary words, in both directions.

A `CodeMap` turns a known X12 code into its canonical word and back; a code without a word
passes through unchanged both ways, so mapping never loses a code the table does not know.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ACK_TYPES",
    "AMOUNT_KINDS",
    "CodeMap",
    "DATE_KINDS",
    "INDICATORS",
    "INVOICE_TYPES",
    "ITEM_ID_KINDS",
    "ORDER_TYPES",
    "PARTY_ID_KINDS",
    "PARTY_ROLES",
    "PAYMENT_HANDLING",
    "PAYMENT_METHODS",
    "PURPOSES",
    "REMIT_DOCUMENT_KINDS",
]


class CodeMap:
    """A one-to-one table between X12 codes and canonical words."""

    __slots__ = ("name", "words", "codes")

    def __init__(self, name: str, pairs: Mapping[str, str]) -> None:
        self.name = name
        self.words = dict(pairs)
        self.codes = {word: code for code, word in pairs.items()}
        if len(self.codes) != len(self.words):
            raise ValueError(f"{name}: two codes share one word")

    def word(self, code: str) -> str:
        """The canonical word for an X12 code (the code itself when the table has no word)."""
        return self.words.get(code, code)

    def code(self, word: str) -> str:
        """The X12 code for a canonical word (the value itself when it is not a known word)."""
        return self.codes.get(word, word)


# X12 235 product/service id qualifier (PO106, LIN02, IT106, ACK07, SLN09...)
ITEM_ID_KINDS = CodeMap("item id qualifier", {
    "UK": "gtin", "EN": "ean", "UP": "upc", "UA": "upc_case", "HI": "hibcc", "N4": "ndc",
    "IB": "isbn", "SK": "sku", "VP": "vendor_part", "VN": "vendor_item",
    "VC": "vendor_catalog", "BP": "buyer_part", "IN": "buyer_item", "CB": "buyer_catalog",
    "MG": "manufacturer_part", "MN": "model_number", "LT": "lot", "SN": "serial",
    "PD": "part_description",
})

# X12 98 entity identifier code (N101)
PARTY_ROLES = CodeMap("entity identifier", {
    "BY": "buyer", "SE": "seller", "ST": "ship_to", "SF": "ship_from", "BT": "bill_to",
    "RI": "remit_to", "PR": "payer", "PE": "payee", "VN": "vendor", "SU": "supplier",
    "SO": "sold_to", "OB": "ordered_by", "MF": "manufacturer", "DS": "distributor",
    "CA": "carrier", "II": "invoice_issuer", "BG": "buying_group",
    "RE": "remittance_receiver",
})

# X12 66 identification code qualifier (N103)
PARTY_ID_KINDS = CodeMap("identification code qualifier", {
    "1": "duns", "9": "duns4", "UL": "gln", "92": "buyer_assigned", "91": "seller_assigned",
    "21": "hin", "15": "san", "11": "dea", "24": "ein", "ZZ": "mutually_defined",
})

# X12 374 date/time qualifier (DTM01)
DATE_KINDS = CodeMap("date/time qualifier", {
    "001": "cancel_after", "002": "delivery_requested", "003": "invoice", "004": "purchase_order",
    "007": "effective", "010": "ship_requested", "011": "shipped", "017": "estimated_delivery",
    "018": "available", "020": "check", "036": "expiration", "037": "ship_not_before",
    "038": "ship_no_later", "063": "deliver_no_later", "064": "deliver_not_before",
    "067": "current_schedule_delivery", "068": "current_schedule_ship",
    "092": "contract_effective", "093": "contract_expiration", "097": "transaction_creation",
    "150": "service_period_start", "151": "service_period_end",
})

# X12 353 transaction set purpose code (BEG01, BAK01, BSN01, BIG08, BCT10)
PURPOSES = CodeMap("transaction set purpose", {
    "00": "original", "01": "cancel", "04": "change", "05": "replace", "06": "confirmation",
    "07": "duplicate", "18": "reissue", "22": "information_copy",
})

# X12 92 purchase order type code (BEG02)
ORDER_TYPES = CodeMap("purchase order type", {
    "SA": "stand_alone", "BK": "blanket", "RL": "release", "NE": "new_order",
    "DS": "dropship", "RO": "rush_order", "CN": "consigned", "KN": "purchase_order",
})

# X12 587 acknowledgment type (BAK02)
ACK_TYPES = CodeMap("acknowledgment type", {
    "AC": "accepted_with_changes", "AD": "accepted_no_changes", "AE": "accepted_with_exceptions",
    "AK": "accepted_no_detail", "AP": "accepted_with_details", "RD": "rejected_with_detail",
    "RJ": "rejected_no_detail",
})

# X12 640 transaction type code (BIG07)
INVOICE_TYPES = CodeMap("transaction type", {
    "DI": "debit_invoice", "CR": "credit_memo", "DR": "debit_memo", "FB": "final_bill",
})

# X12 248 allowance or charge indicator (SAC01)
INDICATORS = CodeMap("allowance or charge indicator", {
    "A": "allowance", "C": "charge", "N": "no_charge", "P": "promotion",
})

# X12 522 amount qualifier (AMT01)
AMOUNT_KINDS = CodeMap("amount qualifier", {
    "TT": "total", "1": "line_items_total", "N": "net", "BAP": "amount_payable",
    "GV": "gross_value",
})

# X12 305 transaction handling code (BPR01)
PAYMENT_HANDLING = CodeMap("transaction handling", {
    "C": "payment_with_remittance", "D": "payment_only", "I": "remittance_only",
    "P": "prenotification", "U": "split_payment", "X": "handling_party_option",
})

# X12 591 payment method code (BPR04)
PAYMENT_METHODS = CodeMap("payment method", {
    "ACH": "ach", "CHK": "check", "FWT": "wire", "BOP": "bank_option", "NON": "non_payment",
    "CCC": "credit_card",
})

# X12 128 reference qualifier as used in RMR01
REMIT_DOCUMENT_KINDS = CodeMap("remittance document kind", {
    "IV": "invoice", "PO": "purchase_order", "CM": "credit_memo", "DM": "debit_memo",
    "R7": "accounts_receivable",
})
