"""004010 810 invoice (functional group IN): BIG, IT1 lines, TDS totals, ISS, CTT.

Summary order per the standard: TDS (mandatory), TXI, CAD, AMT, SAC loop, ISS loop, CTT.
"""

from __future__ import annotations

from .codes import PRICE_BASIS, PURPOSE, UOM
from .dsl import AN, DT, ID, MANY, NUM2, M, O, R, codelist, el, loop, seg, transaction_set
from .segments import (
    AMT,
    CTP,
    CTT,
    CUR,
    DTM,
    FOB,
    ITD,
    MEA,
    N1,
    N2,
    N3,
    N4,
    NTE,
    PER,
    PID,
    PKG,
    PO4,
    PWK,
    QTY,
    REF,
    SAC,
    SDQ,
    SLN,
    TC2,
    TXI,
    pair_rules,
    product_pairs,
)

__all__ = ["INVOICE_810"]

INVOICE_TYPE = codelist("640 transaction type", (
    "DI=Debit invoice;CR=Credit memo;DR=Debit memo;CN=Credit note;FD=Consolidated invoice;"
    "PR=Product (or service);SM=Summary invoice;RB=Rebill;ZZ=Mutually defined"), closed=False)

BIG = seg("BIG", "Beginning Segment for Invoice",
          el("373", DT, 8, 8, True), el("76", AN, 1, 22, True), el("373", DT, 8, 8),
          el("324", AN, 1, 22), el("328", AN, 1, 30), el("327", AN, 1, 8),
          el("640", ID, 2, 2, codes=INVOICE_TYPE), el("353", ID, 2, 2, codes=PURPOSE),
          el("306", ID, 1, 2), el("76", AN, 1, 22))
IT1 = seg("IT1", "Baseline Item Data (Invoice)",
          el("350", AN, 1, 20), el("358", R, 1, 10), el("355", ID, 2, 2, codes=UOM),
          el("212", R, 1, 17), el("639", ID, 2, 2, codes=PRICE_BASIS), *product_pairs(10),
          rules="P020304 " + pair_rules(6, 10))
TDS = seg("TDS", "Total Monetary Value Summary",
          el("610", NUM2, 1, 15, True), el("610", NUM2, 1, 15), el("610", NUM2, 1, 15),
          el("610", NUM2, 1, 15))
CAD = seg("CAD", "Carrier Detail",
          el("91", ID, 1, 2), el("206", AN, 1, 4), el("207", AN, 1, 10), el("140", ID, 2, 4),
          el("387", AN, 1, 35), el("368", ID, 2, 2), el("128", ID, 2, 3), el("127", AN, 1, 30),
          el("284", ID, 1, 2), rules="C0708 R0504 P0203")
ISS = seg("ISS", "Invoice Shipment Summary",
          el("382", R, 1, 10), el("355", ID, 2, 2, codes=UOM), el("81", R, 1, 10),
          el("355", ID, 2, 2, codes=UOM), el("183", R, 1, 8), el("355", ID, 2, 2, codes=UOM),
          rules="P0102 P0304 P0506")
ITA_SAC_LOOP = loop("SAC", 25, O(SAC), O(TXI, 10))

INVOICE_810 = transaction_set(
    "810", "Invoice", "IN",
    M(BIG), O(NTE, 100), O(CUR), O(REF, 12), O(PER, 3),
    loop("N1", 200, O(N1), O(N2, 2), O(N3, 2), O(N4), O(REF, 12), O(PER, 3)),
    O(ITD, MANY), O(DTM, 10), O(FOB), O(PID, 200), O(MEA, 40), O(PWK, 25), O(PKG, 25),
    loop("IT1", 200000, O(IT1), O(QTY, 5), O(CUR), O(TXI, 10), O(CTP, 25),
         O(MEA, 40), loop("PID", 1000, O(PID), O(MEA, 10)), O(PWK, 25), O(PKG, 25), O(PO4),
         O(ITD, 2), O(REF, MANY), O(PER, 5), O(SDQ, 500), O(DTM, 10), O(CAD, MANY),
         loop("SAC", 25, O(SAC), O(TXI, 10)),
         loop("SLN", 1000, O(SLN), O(DTM), O(REF, MANY), O(PID, 1000), O(SAC, 25),
              O(TC2, MANY), O(TXI, 10)),
         loop("N1", 200, O(N1), O(N2, 2), O(N3, 2), O(N4), O(REF, 12), O(PER, 3))),
    M(TDS), O(TXI, 10), O(CAD), O(AMT, MANY), ITA_SAC_LOOP,
    loop("ISS", MANY, O(ISS), O(PID)), O(CTT))
