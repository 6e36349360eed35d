"""AS2 (RFC 4130): X12 interchanges to and from trading partners, signed, encrypted, with MDNs.

`library.py` imports pyas2lib, `keys.py` turns the partners file into pyas2lib's Organization and
Partner objects, `mime.py` builds and reads AS2 messages and MDNs, `client.py` POSTs them,
`source.py` is the listener (`type: as2`) and `destination.py` the sender (`type: as2`).
"""
