#!/usr/bin/env python3
"""Independent verifier for personify's consent ledger.

Written from the public specifications only (RFC 9162 section 2.1 for the Merkle tree and its proofs,
C2SP tlog-checkpoint and signed-note for checkpoints), with nothing but hashlib and PyPI's
`cryptography`, so that personify's Rust code is not the only judge of its own proofs.

    verify.py checkpoint  --vkey VKEY NOTE
    verify.py inclusion   --vkey VKEY --checkpoint NOTE --proof PROOF.json [--leaf LEAF.txt]
    verify.py consistency --vkey VKEY --old NOTE --new NOTE --proof PROOF.json

Exit status 0 and "ok: ..." when the check holds; 1 and "FAILED: ..." otherwise.
"""
import argparse
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Failed(Exception):
    pass


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def leaf_hash(data):
    return sha256(b"\x00", data)


def node_hash(left, right):
    return sha256(b"\x01", left, right)


def parse_vkey(vkey):
    # Names never contain "+"; the base64 key may, so split from the left.
    name, key_id, blob = vkey.strip().split("+", 2)
    raw = base64.b64decode(blob, validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        raise Failed("the verifier key is not an Ed25519 signed-note key")
    expected = sha256(name.encode(), b"\n", raw)[:4]
    if expected.hex() != key_id.lower():
        raise Failed("the verifier key's id does not match its name and key")
    return name, expected, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_checkpoint(note, vkey):
    name, key_id, public = parse_vkey(vkey)
    if "\n\n" not in note:
        raise Failed("not a signed note")
    text, sigs = note.rsplit("\n\n", 1)
    text += "\n"
    verified = False
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            raise Failed("malformed signature line")
        signer, b64 = line[2:].split(" ", 1)
        blob = base64.b64decode(b64, validate=True)
        if signer != name or blob[:4] != key_id or len(blob) != 68:
            continue
        try:
            public.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Failed("the checkpoint's signature does not verify")
        verified = True
    if not verified:
        raise Failed("no signature from the log key")
    lines = text.split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    if len(root) != 32 or origin != name:
        raise Failed("the checkpoint body is malformed")
    return origin, size, root


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 section 2.1.4.2."""
    if first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    nodes = list(proof)
    if first & (first - 1) == 0:
        nodes.insert(0, first_root)
    if not nodes:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def b64list(values):
    return [base64.b64decode(v, validate=True) for v in values]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("checkpoint")
    c.add_argument("--vkey", required=True)
    c.add_argument("note")
    i = sub.add_parser("inclusion")
    i.add_argument("--vkey", required=True)
    i.add_argument("--checkpoint", required=True)
    i.add_argument("--proof", required=True)
    i.add_argument("--leaf", help="the leaf's canonical text, to recompute its hash")
    k = sub.add_parser("consistency")
    k.add_argument("--vkey", required=True)
    k.add_argument("--old", required=True)
    k.add_argument("--new", required=True)
    k.add_argument("--proof", required=True)
    args = ap.parse_args(argv)
    read = lambda p: open(p, encoding="utf-8").read()
    try:
        if args.cmd == "checkpoint":
            origin, size, root = open_checkpoint(read(args.note), args.vkey)
            print(f"ok: {origin} size {size} root {base64.b64encode(root).decode()}")
        elif args.cmd == "inclusion":
            _, size, root = open_checkpoint(read(args.checkpoint), args.vkey)
            proof = json.loads(read(args.proof))
            leaf = base64.b64decode(proof["leaf_hash"], validate=True)
            if args.leaf is not None:
                with open(args.leaf, "rb") as f:
                    if leaf_hash(f.read()) != leaf:
                        raise Failed("the leaf text does not hash to the proof's leaf hash")
            if proof["tree_size"] != size:
                raise Failed("the proof is for another tree size than the checkpoint")
            if not verify_inclusion(leaf, proof["leaf_index"], size, b64list(proof["audit_path"]), root):
                raise Failed("the leaf is not in the checkpointed tree")
            print(f"ok: leaf {proof['leaf_index']} is in the tree of size {size}")
        else:
            _, old_size, old_root = open_checkpoint(read(args.old), args.vkey)
            _, new_size, new_root = open_checkpoint(read(args.new), args.vkey)
            proof = json.loads(read(args.proof))
            if (proof["first"], proof["second"]) != (old_size, new_size):
                raise Failed("the proof is for other tree sizes than the checkpoints")
            if not verify_consistency(old_size, new_size, old_root, new_root, b64list(proof["proof"])):
                raise Failed("the old checkpoint is not a prefix of the new one")
            print(f"ok: the tree of size {old_size} is a prefix of the tree of size {new_size}")
    except (Failed, ValueError, KeyError) as e:
        print(f"FAILED: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
