#!/usr/bin/env python3
"""Independent verifier of a zeugnis ledger directory and of proof bundles,
written from ledger/FORMAT.md alone (no zeugnis code), as the specification
promises is possible. Ledger mode performs the checks of FORMAT.md section 13,
steps 1-5, with the signature policy of section 8.5 on every checkpoint and
the rollback check of section 13.1 for checkpoints kept elsewhere. Bundle
mode performs section 10.1 steps 1-5 with the key path of section 10.2.
Stored full tiles (section 7) are checked against the recomputed hashes; a
mismatch is a failure (section 13 item 7).

Usage: verify_ledger.py LEDGER_DIR [--vkey VERIFIER_KEY] [--checkpoint FILE]...
       verify_ledger.py --bundle BUNDLE_DIR --vkey VERIFIER_KEY
Needs: Python 3.9+, `pip install blake3 cryptography`.
Prints a JSON summary and exits 0 if everything verified, 1 otherwise
(naming file, offset and sequence number of the first problem). A bundle
without --vkey (a trust anchor) is never reported as verified.
"""
import base64
import hashlib
import json
import os
import struct
import sys

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

LINK_CONTEXT = "zeugnis ledger link v1"
SEG_MAGIC = b"ZGNSSEG\n"
CKP_MAGIC = b"ZGNSCKP\n"
RECORD_MAX = 65535


class Fail(Exception):
    pass


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), reflected polynomial 0x82F63B78 (FORMAT.md section 2)."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


class Reader:
    """Field decoder of FORMAT.md section 3.2; rejects non-canonical input."""

    def __init__(self, b):
        self.b, self.pos = b, 0

    def take(self, n):
        if self.pos + n > len(self.b):
            raise Fail("record truncated at byte %d" % self.pos)
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return v

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def i64(self):
        return struct.unpack("<q", self.take(8))[0]

    def hash(self):
        return self.take(32)

    def string(self):
        return self.take(self.u32()).decode("utf-8")

    def option(self):
        tag = self.u8()
        if tag not in (0, 1):
            raise Fail("option tag %d" % tag)
        return tag == 1

    def decimal(self):
        s = self.string()
        # normalised: no exponent, no '+', no trailing zeros after '.', no lone '.', no leading zeros
        body = s[1:] if s.startswith("-") else s
        ok = body != "" and all(c.isdigit() or c == "." for c in body) and body.count(".") <= 1
        if ok and "." in body:
            whole, frac = body.split(".")
            ok = whole != "" and frac != "" and not frac.endswith("0")
        else:
            whole = body
        ok = ok and (whole == "0" or not whole.startswith("0")) and s != "-0"
        if not ok:
            raise Fail("decimal %r is not normalised" % s)
        return s

    def blobref(self):
        return {"blake3": self.hash().hex(), "sha256": self.hash().hex(), "size": self.u64(), "media_type": self.string()}

    def count(self, item_min):
        n = self.u32()
        if n * item_min > len(self.b) - self.pos:
            raise Fail("list count %d cannot fit" % n)
        return n


# FORMAT.md section 3.3, kind 12 (format version 2).
REVOCATION_CATEGORIES = ("unspecified", "withdrawn", "replaced", "issued_in_error")


def operator_id_ok(s):
    """FORMAT.md section 3.1 (format version 6): ^[a-z][a-z0-9-]{1,63}$."""
    lower = "abcdefghijklmnopqrstuvwxyz"
    return (2 <= len(s.encode("utf-8")) <= 64 and s[0] in lower
            and all(c in lower or c in "0123456789-" for c in s[1:]))


def decode(rec):
    """Decodes one record (FORMAT.md section 3); returns (seq, kind, body).
    An attributed record (header version 2, format version 6) has its
    operator id in body["operator"]."""
    r = Reader(rec)
    version = struct.unpack("<H", r.take(2))[0]
    if version not in (1, 2):
        raise Fail("record version %d" % version)
    seq, _time = r.u64(), r.i64()
    kind = struct.unpack("<H", r.take(2))[0]
    r.hash()  # prev_link, checked by the caller
    operator = None
    if version == 2:
        operator = r.string()
        if not operator_id_ok(operator):
            raise Fail("record %d: operator id %r does not match ^[a-z][a-z0-9-]{1,63}$" % (seq, operator))
    if kind == 1:
        body = {"origin": r.string(), "format": r.string(), "public_key": r.hash(), "predecessor": r.string()}
    elif kind == 2:
        body = {"public_key": r.hash(), "valid_from": r.i64()}
    elif kind == 3:
        body = {"public_key": r.hash(), "valid_until": r.i64(), "reason": r.string()}
    elif kind == 4:
        body = {"id": r.string(), "version": r.string(), "text": r.blobref()}
    elif kind == 5:
        body = {"code": r.string(), "kind": r.string(), "institution": r.string(),
                "holder_commitment": r.hash(), "key_commitment": r.hash()}
        body["documents"] = [{"language": r.string(), "blob": r.blobref()} for _ in range(r.count(80))]
        if r.option():
            body["grade"] = {"ruleset": r.string(), "hash": r.hash(),
                             "final": r.decimal() if r.option() else None, "result": r.string()}
    elif kind == 6:
        body = {"code": r.string(), "scan": r.blobref(), "source": r.string()}
    elif kind == 7:
        body = {"code": r.string(), "reason": r.string(), "effective": r.string()}
    elif kind == 12:
        body = {"code": r.string(), "category": r.string(), "reason": r.string(), "effective": r.string()}
        if body["category"] not in REVOCATION_CATEGORIES:
            raise Fail("unknown revocation category %r" % body["category"])
    elif kind == 13:
        body = {"code": r.string(), "scan": r.blobref(), "replaced_seq": r.u64(),
                "replaced_blake3": r.hash().hex(), "reason": r.string(), "source": r.string()}
    elif kind == 8:
        body = {"old": r.string(), "new": r.string()}
    elif kind in (9, 11):
        body = {"code": r.string(), "reason": r.string()}
    elif kind == 10:
        body = {"blobs": r.u64(), "bytes": r.u64()}
        body["failures"] = [r.hash() for _ in range(r.count(32))]
    elif kind == 14:  # format version 4
        body = {"code": r.string(), "key_commitment": r.hash(), "expires": r.i64()}
    elif kind == 15:
        body = {"code": r.string()}
    elif kind == 16:
        body = {"code": r.string(), "document": r.hash(), "other": r.string()}
    elif kind == 17:  # format version 5: MailDelivered
        body = {"code": r.string(), "language": r.string(), "template": r.string(),
                "template_blake3": r.hash()}
        body["documents"] = [r.hash() for _ in range(r.count(32))]
        body["address_hash"] = r.hash()
        body["delivered"] = r.i64()
    elif kind == 18:  # format version 7: Stamped
        body = {"code": r.string(), "document": r.hash(), "original": r.hash()}
    else:
        raise Fail("unknown kind %d" % kind)
    if r.pos != len(rec):
        raise Fail("%d trailing bytes" % (len(rec) - r.pos))
    if operator is not None:
        body["operator"] = operator
    return seq, kind, body


def check_scan_replaced(current, seq, kind, body, where):
    """FORMAT.md section 3.3, kind 13 (format version 3): a ScanReplaced
    record names the scan current before it, by the seq of the record that
    archived it and its BLAKE3. `current` maps a code to (seq, blake3) of its
    current scan, over the records seen so far in seq order."""
    if kind == 13:
        want = current.get(body["code"])
        if want != (body["replaced_seq"], body["replaced_blake3"]):
            raise Fail("%s: ScanReplaced of %s names record %d with scan %s as the replaced scan; "
                       "the current scan was %r" % (where, body["code"], body["replaced_seq"],
                                                    body["replaced_blake3"], want))
    if kind in (6, 13):
        current[body["code"]] = (seq, body["scan"]["blake3"])


def leaf_hash(rec):
    return hashlib.sha256(b"\x00" + rec).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """Streaming RFC 6962 tree: a stack of (height, hash)."""

    def __init__(self):
        self.stack, self.size = [], 0

    def push(self, leaf):
        h, node = 0, leaf
        while self.stack and self.stack[-1][0] == h:
            node = node_hash(self.stack.pop()[1], node)
            h += 1
        self.stack.append((h, node))
        self.size += 1

    def root(self):
        if not self.stack:
            return hashlib.sha256(b"").digest()
        acc = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            acc = node_hash(left, acc)
        return acc


def key_id(name, pub):
    return struct.unpack(">I", hashlib.sha256(name.encode() + b"\x0a\x01" + pub).digest()[:4])[0]


def parse_note(note):
    """Splits a signed note (FORMAT.md 8.2) into (text, origin, size, root, [(name, key ID, signature)])."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise Fail("malformed note")
    text += "\n"
    lines = text.split("\n")
    if len(lines) < 4 or not lines[1].isdigit() or (lines[1] != "0" and lines[1].startswith("0")):
        raise Fail("malformed checkpoint text")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise Fail("checkpoint root is not 32 bytes")
    signatures = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Fail("signature line without em dash")
        name, b64 = line[2:].split(" ", 1)
        raw = base64.b64decode(b64, validate=True)
        if len(raw) != 68:
            raise Fail("signature of %d bytes" % len(raw))
        signatures.append((name, struct.unpack(">I", raw[:4])[0], raw[4:]))
    return text, lines[0], int(lines[1]), root, signatures


def active(k, size):
    """FORMAT.md 9.2: key k = [public key, added by record, retired by record or None]."""
    return k[1] < size and (k[2] is None or k[2] >= size)


def check_policy(note, origin, history, trusted):
    """FORMAT.md 8.5: lines by keys outside `history` are ignored; a line by a
    key of the history must verify and that key must be active at the tree
    size; at least one line must verify under a key in `trusted` (public key
    bytes). Returns (size, root, [public keys that signed])."""
    text, c_origin, size, root, signatures = parse_note(note)
    if c_origin != origin:
        raise Fail("checkpoint origin %r is not the log's %r" % (c_origin, origin))
    signers = []
    for name, kid, sig in signatures:
        for k in history:
            if name != origin or key_id(origin, k[0]) != kid:
                continue  # rule 1: not this key
            try:
                Ed25519PublicKey.from_public_bytes(k[0]).verify(sig, text.encode())
            except InvalidSignature:
                raise Fail("checkpoint of size %d: signature by key %08x of this log does not verify" % (size, kid))
            if not active(k, size):
                raise Fail("checkpoint of size %d: signed by key %08x of this log, which is not active at tree size %d"
                           % (size, kid, size))
            signers.append(k[0])
    if not any(pub in trusted for pub in signers):
        raise Fail("checkpoint of size %d: no signature by a known key that is trusted" % size)
    return size, root, signers


def parse_vkey(vkey):
    """FORMAT.md 8.3: returns (name, public key bytes)."""
    name, kid, b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 33 or raw[0] != 1 or key_id(name, raw[1:]) != int(kid, 16):
        raise Fail("verifier key %r is malformed" % vkey)
    return name, raw[1:]


def frames(data, start):
    """Yields (offset, payload) of valid frames; stops at damage, returning its offset."""
    pos = start
    while pos < len(data):
        if pos + 4 > len(data):
            return pos
        n = struct.unpack("<I", data[pos:pos + 4])[0]
        if n == 0 or n > RECORD_MAX or pos + n + 8 > len(data):
            return pos
        if crc32c(data[pos + 4:pos + 4 + n], crc32c(data[pos:pos + 4])) != struct.unpack("<I", data[pos + 4 + n:pos + 8 + n])[0]:
            return pos
        yield pos, data[pos + 4:pos + 4 + n]
        pos += n + 8
    return None


def verify(directory, vkey=None, kept=()):
    # Checkpoints (section 8.4).
    ckp = open(os.path.join(directory, "checkpoints"), "rb").read()
    head = ckp[:12]
    if head[:8] != CKP_MAGIC or struct.unpack("<I", ckp[12:16])[0] != crc32c(head):
        raise Fail("checkpoints: bad header")
    checkpoints = []
    for off, p in frames(ckp, 16):
        note = p.decode("utf-8")
        checkpoints.append((off, note) + parse_note(note)[1:4])
    for a, b in zip(checkpoints, checkpoints[1:]):
        if b[3] < a[3]:
            raise Fail("checkpoints at byte %d: size decreases" % b[0])
    floor = checkpoints[-1][3] if checkpoints else 0
    kept_notes = []
    for path in kept:
        note = open(path, "rb").read().decode("utf-8")
        kept_notes.append((path, note, parse_note(note)[2]))
    wanted = set(c[3] for c in checkpoints) | set(k[2] for k in kept_notes)
    roots = {}

    # Segments and records (sections 4, 5, 3).
    segdir = os.path.join(directory, "segments")
    names = sorted(n for n in os.listdir(segdir) if not n.startswith("."))
    link, tree, origin, keys, leaves = bytes(32), Tree(), None, [], []
    scans, replaced, operators = {}, 0, {}
    for i, name in enumerate(names):
        path = os.path.join(segdir, name)
        data = open(path, "rb").read()
        first = int(name[:20])
        h = data[:56]
        if len(h) < 56 or h[:8] != SEG_MAGIC or struct.unpack("<I", h[52:56])[0] != crc32c(h[:52]):
            raise Fail("%s: bad segment header" % path)
        if struct.unpack("<Q", h[12:20])[0] != first or first != tree.size or h[20:52] != link:
            raise Fail("%s: does not continue the chain at seq %d" % (path, tree.size))
        gen = frames(data, 56)
        while True:
            try:
                off, rec = next(gen)
            except StopIteration as stop:
                damage = stop.value
                break
            seq, kind, body = decode(rec)
            if seq != tree.size or rec[20:52] != link:
                raise Fail("%s at byte %d (seq %d): sequence or chain mismatch" % (path, off, tree.size))
            if (kind == 1) != (seq == 0):
                raise Fail("%s at byte %d: Genesis must be record 0 only" % (path, off))
            if kind == 1:
                origin = body["origin"]
            collect_key(keys, seq, kind, body)
            check_scan_replaced(scans, seq, kind, body, "%s at byte %d (seq %d)" % (path, off, seq))
            replaced += kind == 13
            if "operator" in body:
                operators[body["operator"]] = operators.get(body["operator"], 0) + 1
            link = blake3.blake3(link + rec, derive_key_context=LINK_CONTEXT).digest()
            leaves.append(leaf_hash(rec))
            tree.push(leaves[-1])
            if tree.size in wanted:
                roots[tree.size] = tree.root()
        if damage is not None:
            last = i == len(names) - 1
            if not (last and tree.size >= floor):
                raise Fail("%s at byte %d (seq %d): damaged frame" % (path, damage, tree.size))
    check_tiles(directory, leaves)
    # Step 4, after the walk: the policy (8.5) needs the whole key history.
    for off_c, note, c_origin, size, root in checkpoints:
        if size > tree.size:
            raise Fail("a checkpoint covers %d records, the segments hold %d" % (size, tree.size))
        check_policy(note, origin, keys, [k[0] for k in keys if active(k, size)])
        if root != roots.get(size):
            raise Fail("checkpoint at byte %d (size %d) does not match the records" % (off_c, size))
    if vkey:
        name, pub = parse_vkey(vkey)
        if not checkpoints:
            raise Fail("no checkpoint to check the verifier key against")
        check_policy(checkpoints[-1][1], origin, keys, [pub] if name == origin else [])
    # Section 13.1: checkpoints kept elsewhere detect a rollback.
    for path, note, size in kept_notes:
        check_policy(note, origin, keys, [k[0] for k in keys if active(k, size)])
        if size > tree.size:
            raise Fail("kept checkpoint %s: size %d, the ledger holds %d records (records cut, rollback)"
                       % (path, size, tree.size))
        if size > floor:
            raise Fail("kept checkpoint %s: size %d, the latest in checkpoints is %d (checkpoints cut, rollback)"
                       % (path, size, floor))
        if parse_note(note)[3] != roots.get(size):
            raise Fail("kept checkpoint %s: root differs from the ledger's at size %d (rewritten log)" % (path, size))
    return {"records": tree.size, "head_link": link.hex(), "root": tree.root().hex(),
            "checkpoints": len(checkpoints), "origin": origin, "keys": len(keys),
            "kept_checkpoints": len(kept_notes), "scans_replaced": replaced,
            "attributed": operators}


TILE_HEIGHT = 8
TILE_WIDTH = 256


def tile_index(parts):
    """C2SP tlog-tiles index path (FORMAT.md 7): x001/x234/067 -> 1234067."""
    if not parts or any(len(p) != 4 or p[0] != "x" or not p[1:].isdigit() for p in parts[:-1]) \
            or len(parts[-1]) != 3 or not parts[-1].isdigit():
        return None
    return int("".join(p.lstrip("x") for p in parts))


def check_tiles(directory, leaves):
    """FORMAT.md 7 and 13 item 7: every stored full tile holds exactly the
    recomputed tree hashes. Keeps all leaf hashes (32 bytes per record)."""
    base = os.path.join(directory, "tiles", "tile")
    if not os.path.isdir(base):
        return 0
    levels = [leaves]
    checked = 0
    for root, _dirs, files in os.walk(base):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), base).split(os.sep)
            if f.startswith(".") or ".p" in rel or rel[0] == "entries":
                continue
            if not rel[0].isdigit() or tile_index(rel[1:]) is None:
                raise Fail("tiles/tile/%s: not a tile path" % "/".join(rel))
            level, index = int(rel[0]), tile_index(rel[1:])
            while len(levels) <= level * TILE_HEIGHT:
                below = levels[-1]
                levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
            hashes = levels[level * TILE_HEIGHT][index * TILE_WIDTH:(index + 1) * TILE_WIDTH]
            data = open(os.path.join(root, f), "rb").read()
            if len(hashes) != TILE_WIDTH:
                raise Fail("tiles/tile/%s: a full tile beyond the %d records" % ("/".join(rel), len(leaves)))
            if data != b"".join(hashes):
                raise Fail("tiles/tile/%s: does not match the recomputed tree hashes" % "/".join(rel))
            checked += 1
    return checked


def collect_key(keys, seq, kind, body):
    """Key history (FORMAT.md 9.2): [public key, added by record, retired by record]."""
    if kind in (1, 2):
        keys.append([body["public_key"], seq, None])
    if kind == 3:
        for k in keys:
            if k[0] == body["public_key"] and k[2] is None:
                k[2] = seq


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 2.1.4.2; like zeugnis (FORMAT.md 6), refuses first = 0."""
    if first == 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


def b64hash(line, where):
    h = base64.b64decode(line, validate=True)
    if len(h) != 32:
        raise Fail("%s: hash of %d bytes" % (where, len(h)))
    return h


def read_tlog_proof(path):
    """FORMAT.md 10.0: returns (index, [hashes], note)."""
    text = open(path, "rb").read().decode("utf-8")
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != "c2sp.org/tlog-proof@v1":
        raise Fail("%s: not a c2sp.org/tlog-proof@v1" % path)
    lines = lines[1:]
    if lines and lines[0].startswith("extra "):
        lines = lines[1:]
    if not lines or not lines[0].startswith("index ") or not lines[0][6:].isdigit():
        raise Fail("%s: no index line" % path)
    return int(lines[0][6:]), [b64hash(l, path) for l in lines[1:]], note


def verify_bundle(bundle, vkey):
    """FORMAT.md 10.1 steps 1-5 with the key path of 10.2 and the policy of 8.5."""
    if not vkey:
        raise Fail("no trust anchor: give --vkey (the bundled vkey file is not one)")
    j = lambda *p: os.path.join(bundle, *p)
    # Step 1: manifests list exactly the files present, hashes match.
    present = set()
    for root, _dirs, files in os.walk(bundle):
        for f in files:
            present.add(os.path.relpath(os.path.join(root, f), bundle).replace(os.sep, "/"))
    manifests = {"manifest-sha256.txt": lambda b: hashlib.sha256(b).hexdigest(),
                 "manifest-blake3.txt": lambda b: blake3.blake3(b).hexdigest()}
    for m, fn in manifests.items():
        listed = {}
        for line in open(j(m), "rb").read().decode("utf-8").splitlines():
            digest, sep, rel = line.partition("  ")
            if not sep:
                raise Fail("%s: malformed line %r" % (m, line))
            listed[rel] = digest
        if set(listed) != present - set(manifests):
            raise Fail("%s does not list exactly the files present: %s" % (m, sorted(set(listed) ^ (present - set(manifests)))))
        for rel, digest in listed.items():
            if fn(open(j(rel), "rb").read()) != digest:
                raise Fail("%s: %s does not match its hash" % (m, rel))
    meta = json.loads(open(j("bundle.json"), "rb").read().decode("utf-8"))
    if meta.get("format") != "zeugnis-proof-bundle-v1":
        raise Fail("bundle.json: format %r" % meta.get("format"))
    note = open(j("checkpoint"), "rb").read().decode("utf-8")
    _, c_origin, size, root, _ = parse_note(note)
    if size != meta["checkpoint_size"]:
        raise Fail("bundle.json: checkpoint_size %r, checkpoint says %d" % (meta["checkpoint_size"], size))
    # Step 2: every record is included in `checkpoint`.
    records = {}
    for seq in meta["records"]:
        rec = open(j("records", "%d.bin" % seq), "rb").read()
        index, path, proof_note = read_tlog_proof(j("records", "%d.tlog-proof" % seq))
        if proof_note != note:
            raise Fail("records/%d.tlog-proof: refers to another checkpoint" % seq)
        if index != seq or not verify_inclusion(seq, size, leaf_hash(rec), path, root):
            raise Fail("records/%d.tlog-proof: inclusion proof does not verify" % seq)
        r_seq, kind, body = decode(rec)
        if r_seq != seq:
            raise Fail("records/%d.bin: says seq %d" % (seq, r_seq))
        records[seq] = (kind, body)
    # Step 3: key history, trust anchor, key path, policy.
    keys, origin = [], None
    for seq in sorted(records):
        kind, body = records[seq]
        if kind == 1:
            origin = body["origin"]
        collect_key(keys, seq, kind, body)
    if origin is None:
        raise Fail("the bundle has no Genesis record")
    if c_origin != origin or meta.get("origin") != origin:
        raise Fail("checkpoint origin %r is not the Genesis origin %r" % (c_origin, origin))
    name, anchor = parse_vkey(vkey)
    if name != origin or all(k[0] != anchor for k in keys):
        raise Fail("the trust anchor is not a key of this log's history")
    trusted = [anchor]
    path_out = []
    kp = []
    for f in present:
        if f.startswith("keys/") and f.endswith(".checkpoint"):
            kp.append(int(f[5:-11]))
    for ksize in sorted(kp):
        knote = open(j("keys", "%d.checkpoint" % ksize), "rb").read().decode("utf-8")
        clines = open(j("keys", "%d.consistency" % ksize), "rb").read().decode("utf-8").splitlines()
        if clines[:3] != ["zeugnis consistency proof v1", "old %d" % ksize, "new %d" % size]:
            raise Fail("keys/%d.consistency: bad header" % ksize)
        cproof = [b64hash(l, "keys/%d.consistency" % ksize) for l in clines[3:] if l]
        try:
            k_size, k_root, signers = check_policy(knote, origin, keys, trusted)
        except Fail as e:
            if "no signature by a known key that is trusted" in str(e):
                continue  # it does not vouch; it is not evidence of misuse either
            raise
        if k_size != ksize:
            raise Fail("keys/%d.checkpoint: has size %d" % (ksize, k_size))
        if not verify_consistency(k_size, size, k_root, root, cproof):
            raise Fail("keys/%d.consistency: does not prove the checkpoint a prefix of the bundle's" % ksize)
        newest = max(k[1] for k in keys if k[0] in trusted)
        added = [k[0] for k in keys if newest < k[1] < ksize and k[0] not in trusted]
        trusted += added
        if added:
            path_out.append({"checkpoint": ksize, "added": [k.hex() for k in added]})
    check_policy(note, origin, keys, trusted)
    # Step 4: the certificate.
    code = meta["code"]
    registered = False
    blobs = set()
    scans = {}
    for seq in sorted(records):
        kind, body = records[seq]
        if kind in (6, 13):
            check_scan_replaced(scans, seq, kind, body, "records/%d.bin" % seq)
    for seq, (kind, body) in records.items():
        named = [body[f] for f in ("code", "old", "new") if f in body]
        if named and code not in named:
            raise Fail("records/%d.bin names another certificate" % seq)
        if kind == 5 and body["code"] == code:
            registered = True
        for ref in [body.get("text"), body.get("scan")] + [d["blob"] for d in body.get("documents", [])]:
            if ref:
                blobs.add((ref["blake3"], ref["sha256"]))
        if kind == 5:
            blobs.add((body["holder_commitment"].hex(), None))
    if not registered:
        raise Fail("no Registered record for %s" % code)
    # Step 5: every file is referenced by a record.
    for f in present:
        if f.startswith("files/"):
            data = open(j(f), "rb").read()
            b3, sha = blake3.blake3(data).hexdigest(), hashlib.sha256(data).hexdigest()
            if f[6:].split(".")[0] != b3 or ((b3, sha) not in blobs and (b3, None) not in blobs):
                raise Fail("%s: not a file a record of the bundle fingerprints" % f)
    return {"code": code, "origin": origin, "checkpoint_size": size, "records": len(records),
            "key_path": path_out, "trusted_signer": True}


def main():
    args = sys.argv[1:]
    opts = {"--vkey": None, "--bundle": None}
    kept = []
    while True:
        flag = next((a for a in args if a in ("--vkey", "--bundle", "--checkpoint")), None)
        if flag is None:
            break
        i = args.index(flag)
        if i + 1 >= len(args):
            print(__doc__, file=sys.stderr)
            return 2
        if flag == "--checkpoint":
            kept.append(args[i + 1])
        else:
            opts[flag] = args[i + 1]
        del args[i:i + 2]
    if len(args) != (0 if opts["--bundle"] else 1):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if opts["--bundle"]:
            result = verify_bundle(opts["--bundle"], opts["--vkey"])
        else:
            result = verify(args[0], opts["--vkey"], kept)
        print(json.dumps(result, indent=1))
        return 0
    except (Fail, OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        print("verify_ledger: FAILED: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
