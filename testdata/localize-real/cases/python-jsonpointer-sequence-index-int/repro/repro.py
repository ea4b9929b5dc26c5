"""Resolves JSON pointers from a JSON-Patch request against a stored document, as an API
server would; a pointer that does not resolve must be a JsonPointerException."""
from jsonpointer import JsonPointer, JsonPointerException

doc = {"users": [{"name": "ada", "roles": ["admin"]}, {"name": "bob", "roles": []}], "count": 2}
for ptr in ["/users/0/name", "/users/1/roles", "/count", "/users/5/name", "/missing"]:
    try:
        print(ptr, "->", JsonPointer(ptr).resolve(doc))
    except JsonPointerException as e:
        print(ptr, "-> rejected:", e)
