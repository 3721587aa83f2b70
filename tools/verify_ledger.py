#!/usr/bin/env python3
"""Independent verifier of a zeugnis ledger directory, written from
ledger/FORMAT.md alone (no zeugnis code), as the specification promises is
possible. It performs the checks of FORMAT.md section 13, steps 1-5.

Usage: verify_ledger.py LEDGER_DIR [--vkey VERIFIER_KEY]
Needs: Python 3.9+, `pip install blake3 cryptography`.
Prints a JSON summary and exits 0 if everything verified, 1 otherwise
(naming file, offset and sequence number of the first problem).
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


def decode(rec):
    """Decodes one record (FORMAT.md section 3); returns (seq, kind, body)."""
    r = Reader(rec)
    version = struct.unpack("<H", r.take(2))[0]
    if version != 1:
        raise Fail("record version %d" % version)
    seq, _time = r.u64(), r.i64()
    kind = struct.unpack("<H", r.take(2))[0]
    r.hash()  # prev_link, checked by the caller
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
    elif kind == 8:
        body = {"old": r.string(), "new": r.string()}
    elif kind in (9, 11):
        body = {"code": r.string(), "reason": r.string()}
    elif kind == 10:
        body = {"blobs": r.u64(), "bytes": r.u64()}
        body["failures"] = [r.hash() for _ in range(r.count(32))]
    else:
        raise Fail("unknown kind %d" % kind)
    if r.pos != len(rec):
        raise Fail("%d trailing bytes" % (len(rec) - r.pos))
    return seq, kind, body


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


def verify_note(note, keys):
    """keys: list of (name, key_id, public key bytes). Returns the text."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise Fail("malformed note")
    text += "\n"
    verified = 0
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Fail("signature line without em dash")
        name, b64 = line[2:].split(" ", 1)
        raw = base64.b64decode(b64, validate=True)
        kid, sig = struct.unpack(">I", raw[:4])[0], raw[4:]
        for (kname, kkid, pub) in keys:
            if kname == name and kkid == kid:
                try:
                    Ed25519PublicKey.from_public_bytes(pub).verify(sig, text.encode())
                except InvalidSignature:
                    raise Fail("bad signature by key %08x" % kid)
                verified += 1
    if verified == 0:
        raise Fail("no signature by a known key")
    return text


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


def verify(directory, vkey=None):
    # Checkpoints (section 8.4).
    ckp = open(os.path.join(directory, "checkpoints"), "rb").read()
    head = ckp[:12]
    if head[:8] != CKP_MAGIC or struct.unpack("<I", ckp[12:16])[0] != crc32c(head):
        raise Fail("checkpoints: bad header")
    notes = [(off, p.decode("utf-8")) for off, p in frames(ckp, 16)]
    checkpoints = []
    for off, note in notes:
        text = note.rpartition("\n\n")[0] + "\n"
        origin, size, root = text.split("\n")[:3]
        checkpoints.append((off, note, origin, int(size), base64.b64decode(root)))
    for a, b in zip(checkpoints, checkpoints[1:]):
        if b[3] < a[3]:
            raise Fail("checkpoints at byte %d: size decreases" % b[0])
    floor = checkpoints[-1][3] if checkpoints else 0

    # Segments and records (sections 4, 5, 3).
    segdir = os.path.join(directory, "segments")
    names = sorted(n for n in os.listdir(segdir) if not n.startswith("."))
    link, tree, origin, keys, next_cp = bytes(32), Tree(), None, [], 0
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
            if kind in (1, 2):
                keys.append([body["public_key"], seq, None])
            if kind == 3:
                for k in keys:
                    if k[0] == body["public_key"] and k[2] is None:
                        k[2] = seq
            link = blake3.blake3(link + rec, derive_key_context=LINK_CONTEXT).digest()
            tree.push(leaf_hash(rec))
            while next_cp < len(checkpoints) and checkpoints[next_cp][3] == tree.size:
                off_c, note, c_origin, size, root = checkpoints[next_cp]
                allowed = [(origin, key_id(origin, k[0]), k[0]) for k in keys
                           if k[1] < size and (k[2] is None or k[2] >= size)]
                verify_note(note, allowed)
                if c_origin != origin or root != tree.root():
                    raise Fail("checkpoint at byte %d (size %d) does not match the records" % (off_c, size))
                next_cp += 1
        if damage is not None:
            last = i == len(names) - 1
            if not (last and tree.size >= floor):
                raise Fail("%s at byte %d (seq %d): damaged frame" % (path, damage, tree.size))
    if next_cp < len(checkpoints):
        raise Fail("a checkpoint covers %d records, the segments hold %d" % (checkpoints[next_cp][3], tree.size))
    if vkey:
        name, kid, b64 = vkey.split("+", 2)
        raw = base64.b64decode(b64)
        verify_note(checkpoints[-1][1], [(name, int(kid, 16), raw[1:])])
    return {"records": tree.size, "head_link": link.hex(), "root": tree.root().hex(),
            "checkpoints": len(checkpoints), "origin": origin, "keys": len(keys)}


def main():
    args = sys.argv[1:]
    vkey = None
    if "--vkey" in args:
        i = args.index("--vkey")
        vkey = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(json.dumps(verify(args[0], vkey), indent=1))
        return 0
    except (Fail, OSError, ValueError, UnicodeDecodeError) as e:
        print("verify_ledger: FAILED: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
