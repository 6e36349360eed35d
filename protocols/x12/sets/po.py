"""004010 purchasing sets: 850 purchase order, 855 PO acknowledgment, 860 PO change (buyer
initiated), 865 PO change acknowledgment/request (seller initiated).

Tables list the standard's segments in standard order; rarely used heading/detail segments
that Plexus does not define (SI, CN1, IT8, IT3, DIS, INC, PAM, LDT, SPI, ADV, LM/LQ, LS/LE...)
are left out, so a set that uses them gets AK304 2/6 for that segment.
PO102 (quantity ordered) follows the standard: conditional (C0302: required when PO103, the
unit of measure, is present), not mandatory.
"""

from __future__ import annotations

from .codes import (
    ACK_STATUS,
    ACK_TYPE,
    DATE_QUALIFIER,
    PO_TYPE,
    PRICE_BASIS,
    PURPOSE,
    UOM,
)
from .dsl import AN, DT, ID, MANY, M, O, R, codelist, el, loop, seg, transaction_set
from .segments import (
    AMT,
    C001,
    CSH,
    CTB,
    CTP,
    CTT,
    CUR,
    DTM,
    FOB,
    ITD,
    LIN,
    MAN,
    MEA,
    MSG,
    N1,
    N2,
    N3,
    N4,
    N9,
    PER,
    PID,
    PKG,
    PO3,
    PO4,
    PWK,
    QTY,
    REF,
    SAC,
    SCH,
    SDQ,
    SLN,
    TAX,
    TC2,
    TD1,
    TD3,
    TD4,
    TD5,
    TXI,
    pair_rules,
    product_pairs,
)

__all__ = ["ACK_855", "CHANGE_860", "CHANGE_ACK_865", "PO_850", "PO_ACK_855"]

CHANGE_TYPE = codelist("670 change or response type", (
    "AI=Add additional item(s);CA=Changes to line items;CT=Change of dates;DI=Delete item(s);"
    "NC=Concurrent item (no change);PC=Price change;PQ=Unit price/quantity change;"
    "PR=Unit price/reschedule change;QD=Quantity decrease;QI=Quantity increase;"
    "RQ=Reschedule/quantity change;RS=Reschedule;RZ=Replace all values;AC=Accept;"
    "RA=Replace all values"), closed=False)

BEG = seg("BEG", "Beginning Segment for Purchase Order",
          el("353", ID, 2, 2, True, PURPOSE), el("92", ID, 2, 2, True, PO_TYPE),
          el("324", AN, 1, 22, True), el("328", AN, 1, 30), el("373", DT, 8, 8, True),
          el("367", AN, 1, 30), el("587", ID, 2, 2, codes=ACK_TYPE), el("1019", ID, 3, 3),
          el("1166", ID, 2, 2), el("1232", ID, 2, 2), el("786", ID, 2, 2), el("640", ID, 2, 2))
PO1 = seg("PO1", "Baseline Item Data",
          el("350", AN, 1, 20), el("330", R, 1, 15), el("355", ID, 2, 2, codes=UOM),
          el("212", R, 1, 17), el("639", ID, 2, 2, codes=PRICE_BASIS), *product_pairs(10),
          rules="C0302 C0504 " + pair_rules(6, 10))
BAK = seg("BAK", "Beginning Segment for Purchase Order Acknowledgment",
          el("353", ID, 2, 2, True, PURPOSE), el("587", ID, 2, 2, True, ACK_TYPE),
          el("324", AN, 1, 22, True), el("373", DT, 8, 8, True), el("328", AN, 1, 30),
          el("326", AN, 1, 30), el("367", AN, 1, 30), el("127", AN, 1, 30), el("373", DT, 8, 8),
          el("640", ID, 2, 2))
ACK = seg("ACK", "Line Item Acknowledgment",
          el("668", ID, 2, 2, True, ACK_STATUS), el("380", R, 1, 15),
          el("355", ID, 2, 2, codes=UOM), el("374", ID, 3, 3, codes=DATE_QUALIFIER),
          el("373", DT, 8, 8), el("326", AN, 1, 30), *product_pairs(10),
          el("559", ID, 2, 2), el("822", AN, 1, 15), el("1271", AN, 1, 30),
          rules="P0203 C0405 " + pair_rules(7, 10))
BCH = seg("BCH", "Beginning Segment for Purchase Order Change",
          el("353", ID, 2, 2, True, PURPOSE), el("92", ID, 2, 2, True, PO_TYPE),
          el("324", AN, 1, 22, True), el("328", AN, 1, 30), el("327", AN, 1, 8),
          el("373", DT, 8, 8, True), el("326", AN, 1, 30), el("373", DT, 8, 8),
          el("306", ID, 1, 2), el("373", DT, 8, 8), el("640", ID, 2, 2))
BCA = seg("BCA", "Beginning Segment for Purchase Order Change Acknowledgment",
          el("353", ID, 2, 2, True, PURPOSE), el("587", ID, 2, 2, True, ACK_TYPE),
          el("324", AN, 1, 22, True), el("328", AN, 1, 30), el("327", AN, 1, 8),
          el("373", DT, 8, 8, True), el("326", AN, 1, 30), el("367", AN, 1, 30),
          el("127", AN, 1, 30), el("373", DT, 8, 8), el("373", DT, 8, 8), el("306", ID, 1, 2))
POC = seg("POC", "Line Item Change",
          el("350", AN, 1, 20), el("670", ID, 2, 2, True, CHANGE_TYPE), el("330", R, 1, 15),
          el("671", R, 1, 9), C001, el("212", R, 1, 17), el("639", ID, 2, 2, codes=PRICE_BASIS),
          *product_pairs(10), rules="C0705 " + pair_rules(8, 10))

# Heading segments shared by 850/855/860/865, in standard order (after the beginning segment).
_HEAD = (O(CUR), O(REF, MANY), O(PER, 3), O(TAX, MANY), O(FOB, MANY), O(CTP, MANY),
         O(CSH, 5), O(TC2, MANY), loop("SAC", 25, O(SAC), O(CUR)), O(ITD, MANY), O(DTM, 10),
         O(LIN, 5), O(PID, 200), O(MEA, 40), O(PWK, 25), O(PKG, 200), O(TD1, 2), O(TD5, 12),
         O(TD3, 12), O(TD4, 5), O(MAN, 10), O(CTB, 5), O(TXI, MANY),
         loop("AMT", MANY, O(AMT), O(REF, MANY), O(DTM)),
         loop("N9", 1000, O(N9), O(DTM, 10), O(MSG, 1000)),
         loop("N1", 200, O(N1), O(N2, 2), O(N3, 2), O(N4, MANY), O(REF, 12), O(PER, MANY),
              O(FOB), O(TD1, 2), O(TD5, 12), O(TD3, 12), O(TD4, 5), O(PKG, 200)))


def _line_body() -> tuple:
    """Detail segments shared by the PO1 / POC line loops (after the line segment)."""
    return (O(LIN, MANY), O(CUR), O(PO3, 25), loop("CTP", MANY, O(CTP), O(CUR)), O(MEA, 40),
            loop("PID", 1000, O(PID), O(MEA, 10)), O(PWK, 25), O(PO4, MANY), O(REF, MANY),
            O(PER, 3), loop("SAC", 25, O(SAC), O(CUR)), O(CSH, MANY), O(ITD, 2),
            O(TAX, MANY), O(FOB, MANY), O(SDQ, 500), O(DTM, 10), O(TC2, MANY), O(TD1),
            O(TD5, 12), O(TD3, 12), O(TD4, 5), O(MAN, 10), O(MSG, 12), O(TXI, MANY),
            O(CTB, MANY), loop("QTY", MANY, O(QTY)))


def _line_tail() -> tuple:
    """Loops at the end of a line loop: schedules, references, parties, sublines, amounts."""
    return (loop("SCH", 200, O(SCH), O(TD1, 2), O(TD5, 12), O(TD3, 12), O(TD4, 5),
                 O(REF, MANY)),
            O(PKG, 200),
            loop("N9", 1000, O(N9), O(DTM, MANY), O(MEA, 40), O(MSG, 1000)),
            loop("N1", 200, O(N1), O(N2, 2), O(N3, 2), O(N4, MANY), O(QTY, MANY), O(REF, 12),
                 O(PER, 3), O(DTM), O(FOB), O(SCH, 200), O(TD1), O(TD5, 12), O(TD3, 12),
                 O(TD4, 5), O(PKG, 200)),
            loop("SLN", 1000, O(SLN), O(MSG, MANY), O(PID, 1000), O(PO3, 104), O(TC2, MANY),
                 O(DTM, 10), O(CTP, 25), O(PO4), O(TAX, 3), loop("N9", 1, O(N9), O(DTM, 10)),
                 loop("SAC", 25, O(SAC), O(CUR)), loop("QTY", MANY, O(QTY)),
                 loop("N1", 10, O(N1), O(N2, 2), O(N3, 2), O(N4, MANY), O(REF, 12),
                      O(PER, 3))),
            loop("AMT", MANY, O(AMT), O(REF), O(DTM)))


_ACK_LOOP = loop("ACK", 104, O(ACK), O(DTM, 10))
_SUMMARY = loop("CTT", 1, O(CTT), O(AMT))

PO_850 = transaction_set(
    "850", "Purchase Order", "PO", M(BEG), *_HEAD,
    loop("PO1", 100000, M(PO1), *_line_body(), *_line_tail()), _SUMMARY)

PO_ACK_855 = transaction_set(
    "855", "Purchase Order Acknowledgment", "PR", M(BAK), *_HEAD,
    loop("PO1", 100000, O(PO1), *_line_body(), _ACK_LOOP, *_line_tail()), _SUMMARY)
ACK_855 = PO_ACK_855

CHANGE_860 = transaction_set(
    "860", "Purchase Order Change Request - Buyer Initiated", "PC", M(BCH), *_HEAD,
    loop("POC", 100000, O(POC), *_line_body(), *_line_tail()), _SUMMARY)

CHANGE_ACK_865 = transaction_set(
    "865", "Purchase Order Change Acknowledgment/Request - Seller Initiated", "CA", M(BCA),
    *_HEAD, loop("POC", 100000, O(POC), *_line_body(), _ACK_LOOP, *_line_tail()), _SUMMARY)
