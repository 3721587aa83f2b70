#!/usr/bin/env python3
"""Checks an ELM 3 credential (JSON-LD) against the EDC SHACL shapes with
pyshacl, offline: every JSON-LD context is read from vendor/, never fetched.

    python3 tools/elm_shacl.py FILE.jsonld [--shapes no-cv|full]

Exit code 0: conforms; 1: does not conform (the pyshacl report is printed);
2: usage error or a context that is not vendored (never fetched).

Shapes: `no-cv` (default) is vendor/elm-3/EDC-generic-no-cv.ttl, the EDC
generic shapes without the controlled-vocabulary checks; `full` adds
EDC-generic-full.ttl, whose vocabulary checks need the EU vocabularies
(not vendored; docs/exports.md).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join(HERE, "..", "vendor")
CONTEXTS = {
    "https://www.w3.org/2018/credentials/v1": "w3c-vc/credentials-v1.jsonld",
    "http://data.europa.eu/snb/model/context/edc-ap": "elm-3/edc-ap-context.jsonld",
}


def local_context(url):
    if url not in CONTEXTS:
        print("context %s is not vendored; refusing to fetch it" % url, file=sys.stderr)
        sys.exit(2)
    with open(os.path.join(VENDOR, CONTEXTS[url]), encoding="utf-8") as f:
        return json.load(f)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    shapes = "no-cv"
    if "--shapes" in argv:
        i = argv.index("--shapes")
        shapes = argv[i + 1] if i + 1 < len(argv) else ""
        args = [a for a in args if a != shapes]
    if len(args) != 1 or shapes not in ("no-cv", "full"):
        print(__doc__, file=sys.stderr)
        return 2
    import rdflib
    from pyshacl import validate

    with open(args[0], encoding="utf-8") as f:
        doc = json.load(f)
    ctx = doc.get("@context")
    ctx = ctx if isinstance(ctx, list) else [ctx]
    # Replace every remote context by its vendored copy (the local loader).
    doc["@context"] = [local_context(c)["@context"] if isinstance(c, str) else c for c in ctx]
    data = rdflib.Graph()
    data.parse(data=json.dumps(doc), format="json-ld")
    sg = rdflib.Graph()
    sg.parse(os.path.join(VENDOR, "elm-3/EDC-generic-no-cv.ttl"), format="turtle")
    if shapes == "full":
        sg.parse(os.path.join(VENDOR, "elm-3/EDC-generic-full.ttl"), format="turtle")
    conforms, _, text = validate(data, shacl_graph=sg, inference="none", allow_warnings=True)
    print(text)
    print("%s: %d triples, %s" % (args[0], len(data), "conforms" if conforms else "does NOT conform"))
    return 0 if conforms else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
