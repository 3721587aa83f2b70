#!/usr/bin/env python3
"""Runs an ISO Schematron file (queryBinding xslt2) against an XML file with
Saxon's XPath 3.1 (saxonche from PyPI), offline.

    python3 tools/xhs_schematron.py SCHEMA.sch FILE.xml [--no-patch]

Exit code 0: every assert holds; 1: failed asserts (one line each, with the
rule id, the node's path and the message); 2: usage or parse error.

What it supports is what vendor/xhochschule-1.2/xhochschule-schematron.sch
uses: <sch:ns>, patterns of rules, abstract rules pulled in with
<sch:extends>, <sch:assert> and <sch:report>. A node is checked by the first
rule of a pattern whose context matches it (ISO Schematron semantics). Not
supported (refused with exit 2, never skipped): <sch:let>, <sch:include>,
abstract patterns, phases.

The local patch (docs/exports.md, "Schematron"): XHochschule 1.2's rules
XHS-0020 to XHS-0026 and XHS-0029/0031 test `*:leistungsart/code/code`,
whose middle step has no namespace wildcard; the `xhs:code` element is in
the XHochschule namespace, so the path never matches, and an optional
element such as `faecherschluesselDESTATIS` on a `studiengang` is then
reported as forbidden. The runner rewrites that path to
`*:leistungsart/*:code/code` in memory (the vendored file stays unchanged);
`--no-patch` runs the rules as published.
"""

import sys
import xml.etree.ElementTree as ET

SCH = "http://purl.oclc.org/dsdl/schematron"
PATCHES = [("*:leistungsart/code/code", "*:leistungsart/*:code/code")]


def q(tag):
    return "{%s}%s" % (SCH, tag)


def load_schema(path, patch):
    root = ET.parse(path).getroot()
    if root.get("queryBinding") not in ("xslt2", "xslt3", "xpath2", "xpath3", "xpath31"):
        raise SystemExit("unsupported queryBinding %r" % root.get("queryBinding"))
    for bad in ("let", "include", "phase"):
        if list(root.iter(q(bad))):
            print("%s: <sch:%s> is not supported by this runner" % (path, bad), file=sys.stderr)
            sys.exit(2)
    namespaces = [(n.get("prefix"), n.get("uri")) for n in root.findall(q("ns"))]
    abstract = {}
    patterns = []
    for pat in root.findall(q("pattern")):
        if pat.get("abstract") == "true":
            print("%s: abstract patterns are not supported" % path, file=sys.stderr)
            sys.exit(2)
        for rule in pat.findall(q("rule")):
            if rule.get("abstract") == "true":
                abstract[rule.get("id")] = rule
    for pat in root.findall(q("pattern")):
        rules = []
        for rule in pat.findall(q("rule")):
            if rule.get("abstract") == "true":
                continue
            checks = []
            for r in [rule] + [abstract[e.get("rule")] for e in rule.findall(q("extends"))]:
                for kind in ("assert", "report"):
                    for a in r.findall(q(kind)):
                        test = a.get("test")
                        if patch:
                            for old, new in PATCHES:
                                test = test.replace(old, new)
                        message = " ".join("".join(a.itertext()).split())
                        checks.append((kind, a.get("id") or r.get("id") or "?", test, message))
            rules.append((rule.get("context"), checks))
        patterns.append(rules)
    return namespaces, patterns


def context_xpath(context):
    parts = [p.strip() for p in context.split("|")]
    return " | ".join(p if p.startswith("/") else "//" + p for p in parts)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 2 or any(a not in ("--no-patch",) for a in argv[1:] if a.startswith("--")):
        print(__doc__, file=sys.stderr)
        return 2
    from saxonche import PySaxonProcessor

    namespaces, patterns = load_schema(args[0], "--no-patch" not in argv)
    failures = []
    checked = 0
    with PySaxonProcessor(license=False) as proc:
        doc = proc.parse_xml(xml_file_name=args[1])
        xp = proc.new_xpath_processor()
        for prefix, uri in namespaces:
            xp.declare_namespace(prefix, uri)
        for rules in patterns:
            fired = set()
            for context, checks in rules:
                xp.set_context(xdm_item=doc)
                nodes = xp.evaluate(context_xpath(context))
                if nodes is None:
                    continue
                for i in range(nodes.size):
                    node = nodes.item_at(i)
                    xp.set_context(xdm_item=node)
                    where = str(xp.evaluate_single("path(.)"))
                    if where in fired:
                        continue
                    fired.add(where)
                    for kind, rid, test, message in checks:
                        checked += 1
                        holds = xp.effective_boolean_value(test)
                        if (kind == "assert" and not holds) or (kind == "report" and holds):
                            failures.append("%s at %s: %s" % (rid, where, message))
    for f in failures:
        print(f)
    if failures:
        print("%s: %d failed of %d checks" % (args[1], len(failures), checked), file=sys.stderr)
        return 1
    print("%s: %d Schematron checks hold" % (args[1], checked))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
