"""Round-trips small XML payloads (an RSS item, a SOAP-ish envelope with an entity, a record
with an empty field) through xmltodict, as an integration adapter would."""
import xmltodict

docs = [
    "<rss><item id=\"1\"><title>Hello</title><tag>a</tag><tag>b</tag></item></rss>",
    "<env><body>fish &amp; chips</body><empty/></env>",
]
for xml in docs:
    data = xmltodict.parse(xml)
    print("parsed:", data)
    print("unparsed:", xmltodict.unparse(data, full_document=False))
print(xmltodict.unparse({"record": {"name": "x", "note": None}}))
print(xmltodict.unparse({"item": {"@id": 7, "@lang": "en", "#text": "seven"}}))
