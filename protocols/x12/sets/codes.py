"""Code lists for the qualifiers that matter in the 004010 supply-chain sets.

Closed lists (unknown code -> AK403 7 "invalid code value") are the short, stable lists:
ACK01 line item status, BAK02 acknowledgment type, SAC01 allowance/charge indicator, PID01
description type, HL03 levels of an 856 and the yes/no style indicators - and the product/service
id qualifier 235 (PO106, LIN02, IT106...): the item ids are what a PO, ASN or invoice is matched
on, so a qualifier nobody can interpret is rejected. Its list holds the codes we name (UP, EN,
VN, VP, IN, BP, HI for HIBCC...) plus the rest of the standard's 235 codes
(OTHER_PRODUCT_ID_CODES); a partner that uses a code missing there needs one line added.

Open lists are the standard's other huge lists (unit of measure 355, entity identifier 98,
identification code qualifier 66, reference qualifier 128, date/time qualifier 374, transaction
set purpose 353, PO type 92, currency 100...). We list the codes a hospital supply chain uses so
transforms can describe them, and ACCEPT any other code of the right length and character set:
the validator only adds a note (SetResult.notes), never an error.
"""

from __future__ import annotations

from .dsl import codelist

__all__ = [
    "ACK_STATUS", "ACK_TYPE", "ALLOWANCE_CHARGE", "COMM_QUALIFIER", "CONTACT_FUNCTION",
    "CURRENCY", "DATE_QUALIFIER", "DESCRIPTION_TYPE", "ENTITY", "HL_LEVEL_856", "ID_QUALIFIER",
    "KNOWN_SEGMENT_IDS", "PO_TYPE", "PRICE_BASIS", "PRODUCT_ID", "PURPOSE", "REF_QUALIFIER",
    "TERMS_TYPE", "UOM", "YES_NO",
]

UOM = codelist("355 unit of measure", (
    "EA=Each;BX=Box;CA=Case;CS=Case;PK=Package;DZ=Dozen;PR=Pair;ST=Set;KT=Kit;BG=Bag;BO=Bottle;"
    "CT=Carton;CN=Can;TB=Tube;TU=Tube;VI=Vial;AM=Ampoule;SY=Syringe;RL=Roll;RM=Ream;SH=Sheet;"
    "PL=Pallet;PC=Piece;UN=Unit;GR=Gram;KG=Kilogram;LB=Pound;OZ=Ounce;ML=Milliliter;LT=Liter;"
    "GA=Gallon;FO=Fluid ounce;FT=Foot;IN=Inch;YD=Yard;CM=Centimeter;MM=Millimeter;MR=Meter;"
    "SF=Square foot;HR=Hour;DA=Day;MO=Month;LO=Lot;TK=Tank;DR=Drum;JR=Jar;PH=Pack;SP=Strip;"
    "TY=Tray;CQ=Cartridge;AS=Assortment;BD=Bundle;CH=Container;CC=Cubic centimeter;"
    "MG=Milligram;UG=Microgram;GM=Gram"), closed=False)

# The other 235 codes of the standard (meanings left out: we only need to accept them).
OTHER_PRODUCT_ID_CODES = """
AB AC AI AM AN AR AS AT B1 B2 B3 B4 B5 B6 B7 BA BC BE BM BN BO BT BU CA CC CD CE CF CG CI CL
CM CN CP CQ CR CS CT CU DC DE DG DI DL DN DP ED EP EQ ES FF FI FL FP FS FT GC GD GN GR GU HN IA
IC IM IS IZ JN JS KP LG LU MA MB MD MM MO MS MT NC NH NR OA OB OC OD OE OH OL ON OP P1 P2 P3
P4 PA PC PE PG PJ PK PL PM PQ PS PT PW RA RC RD RE RK RN RO RP RR RS RT RU RV RY SC SE SF SI
SL SM SQ SR SS SU SV SW SZ TA TC TI TM TP TR TS TT TU TY UB UC UD UE UF UM UO US UV VB VE VI
VM VO VS VU VV VX WS DR IT PR N5 N6
"""

PRODUCT_ID = codelist("235 product/service id qualifier", (
    "UP=UPC consumer package code (1-5-5-1);UK=GTIN-14 (UCC/EAN-14);UN=UPC shipping container"
    " code;UA=UPC/EAN case code (2-5-5);EN=EAN/GTIN-13;EO=EAN/GTIN-8;UI=UPC (1-5-5);"
    "VN=Vendor's (seller's) item number;VP=Vendor's (seller's) part number;VC=Vendor's catalog"
    " number;VA=Vendor's style number;IN=Buyer's item number;BP=Buyer's part number;"
    "CB=Buyer's catalog number;PI=Purchaser's item code;MG=Manufacturer's part number;"
    "MF=Manufacturer;MN=Model number;SK=Stock keeping unit (SKU);PN=Company part number;"
    "HI=HIBCC (Health Industry Business Communications Council) labeler id + product number;"
    "ND=National Drug Code (NDC);N4=NDC in 5-4-2 format;N1=NDC in 4-4-2 format;"
    "LT=Lot number;SN=Serial number;CH=Country of origin;EC=Engineering change level;"
    "GS=General specification number;PD=Part number description;BL=Brand/label;"
    "ZZ=Mutually defined;HC=HCPCS procedure code;N2=NDC in 5-3-2 format;"
    "N3=NDC in 5-4-1 format;IB=ISBN;PO=Purchase order number;ST=Style number"
    ) + ";" + ";".join(f"{code}=" for code in OTHER_PRODUCT_ID_CODES.split()))

ENTITY = codelist("98 entity identifier", (
    "ST=Ship to;BT=Bill to party;BY=Buying party (purchaser);SE=Selling party;SU=Supplier;"
    "VN=Vendor;SF=Ship from;RI=Remit to;RE=Party to receive commercial invoice remittance;"
    "PR=Payer;PE=Payee;MF=Manufacturer of goods;DS=Distributor;BG=Buying group;"
    "II=Issuer of invoice;OB=Ordered by;BS=Bill and ship to;CA=Carrier;SO=Sold to;"
    "DA=Delivery address;PF=Party to receive freight bill;Z7=Mark-for party;"
    "EN=End user;FR=Message from;TO=Message to;BO=Broker or sales office;CN=Consignee;"
    "GP=Gateway provider;HF=Healthcare provider;HH=Home health agency"), closed=False)

ID_QUALIFIER = codelist("66 identification code qualifier", (
    "1=DUNS;9=DUNS+4;91=Assigned by seller;92=Assigned by buyer;UL=Global Location Number"
    " (GLN);21=Health Industry Number (HIN);11=DEA number;15=Standard Address Number (SAN);"
    "FI=Federal taxpayer's identification number;24=Employer's identification number;"
    "10=DODAAC;ZZ=Mutually defined"), closed=False)

REF_QUALIFIER = codelist("128 reference identification qualifier", (
    "PO=Purchase order number;VN=Vendor order number;IA=Internal vendor number;DP=Department"
    " number;IV=Seller's invoice number;BM=Bill of lading number;CN=Carrier's reference (PRO)"
    " number;CT=Contract number;LT=Lot number;SE=Serial number;IT=Internal customer number;"
    "CO=Customer order number;CR=Customer reference number;PK=Packing list number;"
    "11=Account number;12=Billing account;19=Division identifier;AN=Associated purchase"
    " orders;ZZ=Mutually defined;PD=Promotion/deal number;VR=Vendor ID number;"
    "EI=Employer's identification number;TN=Transaction reference number;CM=Credit memo;"
    "DB=Debit memo number;MS=Manufacturer's serial number;BC=Buyer's contract number"),
    closed=False)

DATE_QUALIFIER = codelist("374 date/time qualifier", (
    "002=Delivery requested;010=Requested ship;011=Shipped;017=Estimated delivery;"
    "036=Expiration;037=Ship not before;038=Ship no later;063=Do not deliver after;"
    "064=Do not deliver before;067=Current schedule delivery;068=Current schedule ship;"
    "069=Promised for delivery;003=Invoice;004=Purchase order;007=Effective;"
    "008=Purchase order received;092=Contract effective;093=Contract expiration;"
    "097=Transaction creation;196=Start;197=End;405=Production"), closed=False)

PURPOSE = codelist("353 transaction set purpose", (
    "00=Original;01=Cancellation;04=Change;05=Replace;06=Confirmation;07=Duplicate;"
    "18=Reissue;22=Information copy"), closed=False)

PO_TYPE = codelist("92 purchase order type", (
    "SA=Stand-alone order;NE=New order;BK=Blanket order;RL=Release or delivery order;"
    "DS=Dropship;KN=Purchase order;KB=Kanban signal;CN=Consigned order;RE=Reorder;"
    "OS=Special order;RO=Rush order;SP=Sample;ST=Standing order;EO=Emergency order"),
    closed=False)

ACK_TYPE = codelist("587 acknowledgment type", (
    "AC=Acknowledge - with detail and change;AD=Acknowledge - with detail, no change;"
    "AE=Acknowledge - with exception detail only;AH=Acknowledge - hold status;"
    "AK=Acknowledge - no detail or change;AP=Acknowledge - product replenishment;"
    "AT=Accepted;NA=No acknowledgment needed;RD=Reject with detail;"
    "RF=Reject with exception detail only;RJ=Rejected - no detail;RO=Rejected with counter"
    " offer;ZZ=Mutually defined"))

ACK_STATUS = codelist("668 line item status", (
    "AC=Item accepted and shipped;AR=Item accepted and released for shipment;"
    "BP=Item accepted - partial shipment, balance backordered;DR=Item accepted - date"
    " rescheduled;IA=Item accepted;IB=Item backordered;IC=Item accepted - changes made;"
    "ID=Item deleted;IE=Item accepted, price pending;IF=Item on hold, incomplete description;"
    "IH=Item on hold;IP=Item accepted - price changed;IQ=Item accepted - quantity changed;"
    "IR=Item rejected;IS=Item accepted - substitution made;IW=Item on hold - waiver required;"
    "R1=Item rejected, not a contract item;R2=Item rejected, invalid item product number;"
    "R3=Item rejected, invalid unit of issue;R4=Item rejected, contract item not available;"
    "SP=Item accepted - schedule date pending"))

ALLOWANCE_CHARGE = codelist("248 allowance or charge indicator",
                            "A=Allowance;C=Charge;N=No allowance or charge")

DESCRIPTION_TYPE = codelist("349 item description type",
                            "F=Free-form;S=Structured (from industry code list);X=Semi-structured")

HL_LEVEL_856 = codelist("735 hierarchical level (856)", (
    "S=Shipment;O=Order;T=Shipping tare;P=Pack;Q=Subpack;I=Item;F=Component"))

YES_NO = codelist("1073 yes/no condition or response", "Y=Yes;N=No;U=Unknown;W=Not applicable")

PRICE_BASIS = codelist("639 basis of unit price", (
    "PE=Price per each;CT=Contract;CP=Current price (subject to change);QT=Quoted;"
    "CA=Catalog;PC=Price per case;UM=Price per unit of measure;NC=No charge;"
    "LE=Price per pound;TE=Contract price per each;DS=Discount"), closed=False)

TERMS_TYPE = codelist("336 terms type", (
    "01=Basic;02=End of month (EOM);03=Fixed date;05=Discount not applicable;"
    "08=Basic discount offered;12=10 days after end of month;14=Previously agreed upon;"
    "ZZ=Mutually defined"), closed=False)

CONTACT_FUNCTION = codelist("366 contact function", (
    "BD=Buyer name or department;IC=Information contact;CN=General contact;"
    "OC=Order contact;SR=Sales representative or department;AR=Accounts receivable"
    " department;AP=Accounts payable department;CD=Customer service"), closed=False)

COMM_QUALIFIER = codelist("365 communication number qualifier", (
    "TE=Telephone;FX=Facsimile;EM=Electronic mail;EX=Telephone extension;UR=URL;"
    "CP=Cellular phone;WP=Work phone number"), closed=False)

CURRENCY = codelist("100 currency", "USD=US dollar;CAD=Canadian dollar;EUR=Euro;"
                                    "GBP=Pound sterling;MXN=Mexican peso", closed=False)

# Segment ids of the X12 dictionary (004010 and the HIPAA sets), to tell "unrecognized segment
# id" (AK304 1) from "segment not in defined transaction set" (AK304 6).
KNOWN_SEGMENT_IDS = frozenset("""
ACK ACT ADV ADX AIN AK1 AK2 AK3 AK4 AK5 AK8 AK9 AMT ASI AT1 AT2 AT3 AT4 AT5 AT6 AT7 AT8 AT9
B1 B10 B2 B2A B3 B4 BAK BAL BAU BCA BCD BCH BCM BCO BCP BCQ BCS BCT BDS BEG BEN BFR BGN BHT
BIA BIG BIN BLI BNX BOS BPA BPR BQR BQT BR BRA BSC BSI BSN BSR BSS BTA BTI BTP BTR BUY BX
CAD CAS CB1 CD2 CD3 CDA CDD CDI CDS CED CF1 CID CL1 CLD CLI CLM CLP CM CN1 COB CON CPR CR1
CR2 CR3 CR4 CR5 CR6 CR7 CR8 CRC CSH CSI CSM CTB CTC CTP CTT CTX CUR CV DAD DAM DB DED DEF
DFI DG1 DIS DK DL DMA DMG DN1 DN2 DSB DTM DTP EB EC ED EFI EM ENT EQ F9 FA1 FA2 FOB FST G01
G05 G20 G23 G25 G26 G27 G28 G29 G36 G39 G40 G43 G45 G46 G50 G53 G54 G55 G61 G62 G66 G67
G68 G69 G72 G73 G82 G83 G84 G85 G86 GE GF GS HAA HCP HCR HD HI HL HLH HSD ICM IDC IEA II III
IK3 IK4 IK5 IMM IN1 IN2 INC INS INV IRA ISA ISS IT1 IT3 IT8 ITA ITD K1 K2 K3 L0 L1 L10 L11 L3
L4 L5 L7 LDT LE LH1 LH2 LH3 LH4 LH6 LIN LM LQ LS LUI LX MAN MEA MIA MOA MRC MS1 MS2 MS3
MSG MTX N1 N10 N2 N3 N4 N9 NM1 NTE NX1 NX2 OI OOI OTI PAM PAT PCT PDS PER PID PKD PKG PLA
PLB PO1 PO3 PO4 POC PRF PRV PS1 PSA PWK QTY RDM REF RMR RPA SAC SBR SCH SDQ SE SHP SI SII
SLN SN1 SPI SR SRT ST STC SUP SV1 SV2 SV3 SV4 SV5 SV6 SV7 SVC SVD TA1 TC2 TD1 TD3 TD4 TD5 TDS
TED TOO TRN TS2 TS3 TXI UIT UM UR V1 XPO XQ YNQ ZA
""".split())
