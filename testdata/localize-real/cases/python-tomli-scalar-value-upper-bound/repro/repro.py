"""Loads configuration documents (valid and invalid) as a tool reading pyproject-style files
would; a TOMLDecodeError is the expected way to reject a bad document."""
import tomli

DOCS = [
    'name = "demo"\nversion = "1.0"\n[tool.x]\nkeys = [1, 2, 3]\n',
    '[[servers]]\nhost = "a"\n[[servers]]\nhost = "b"\n',
    'a = 1\n[a.b]\nc = 2\n',
    's = "caf\\u00e9 \\U0001F600"\n',
    't = "\\U00110000"\n',
    'x = [1, 2,\n',
]

for doc in DOCS:
    try:
        print("ok:", tomli.loads(doc))
    except tomli.TOMLDecodeError as e:
        print("rejected:", e)
