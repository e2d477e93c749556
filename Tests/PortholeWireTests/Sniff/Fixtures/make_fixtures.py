#!/usr/bin/env python3
"""Regenerates the ClientHello fixtures used by the Sniff tests.

Run from anywhere: `python3 make_fixtures.py` (writes next to this file).
No network: hellos come from Python's ssl module over ssl.MemoryBIO, from
`openssl s_client` talking to a capture socket on 127.0.0.1 (ephemeral port,
stopped by pid), and from the recorded Halibut agent in shared/vectors.

Each fixture is `<name>.hex` (the raw TLS record bytes as sent on the wire,
lower-case hex, one line) plus `<name>.expected.json`: what an independent
decoder (the small one below, not the Swift parser under test) reads from
the same bytes. The Swift tests compare the two.

Hellos carry fresh randoms and key shares, so regenerating changes the hex;
the expectations are regenerated with them.
"""
import json
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


# --- an independent, deliberately plain ClientHello decoder -----------------

def split_records(data):
    """Returns (handshake bytes, record bytes consumed) for a hello that may
    span several type-22 records (RFC 8446 section 5.1)."""
    handshake = b""
    offset = 0
    while True:
        ctype, _version, length = struct.unpack(">BHH", data[offset:offset + 5])
        assert ctype == 22
        handshake += data[offset + 5:offset + 5 + length]
        offset += 5 + length
        if len(handshake) >= 4:
            total = 4 + int.from_bytes(handshake[1:4], "big")
            if len(handshake) >= total:
                assert len(handshake) == total
                return handshake, offset


def u16_list(b):
    return [int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2)]


def decode_hello(data):
    handshake, consumed = split_records(data)
    assert handshake[0] == 1
    body = handshake[4:]
    pos = 0
    legacy_version = int.from_bytes(body[0:2], "big")
    pos = 2 + 32
    sid_len = body[pos]
    pos += 1 + sid_len
    cs_len = int.from_bytes(body[pos:pos + 2], "big")
    suites = u16_list(body[pos + 2:pos + 2 + cs_len])
    pos += 2 + cs_len
    comp_len = body[pos]
    pos += 1 + comp_len
    out = {
        "sni": None, "alpn": None, "legacy_version": legacy_version,
        "supported_versions": [], "cipher_suites": suites,
        "supported_groups": [], "key_share_groups": [],
        "signature_algorithms": [], "extension_types": [],
        "session_ticket_offered": False, "psk_offered": False,
        "early_data_offered": False, "consumed_bytes": consumed,
        "handshake_length": len(handshake) - 4,
    }
    if pos == len(body):
        return out
    ext_total = int.from_bytes(body[pos:pos + 2], "big")
    pos += 2
    end = pos + ext_total
    assert end == len(body)
    while pos < end:
        etype, elen = struct.unpack(">HH", body[pos:pos + 4])
        edata = body[pos + 4:pos + 4 + elen]
        pos += 4 + elen
        out["extension_types"].append(etype)
        if etype == 0:
            name_len = int.from_bytes(edata[3:5], "big")
            out["sni"] = edata[5:5 + name_len].decode("ascii").lower()
        elif etype == 16:
            names, p = [], 2
            while p < len(edata):
                n = edata[p]
                names.append(edata[p + 1:p + 1 + n].decode("utf-8"))
                p += 1 + n
            out["alpn"] = names
        elif etype == 43:
            out["supported_versions"] = u16_list(edata[1:])
        elif etype == 10:
            out["supported_groups"] = u16_list(edata[2:])
        elif etype == 13:
            out["signature_algorithms"] = u16_list(edata[2:])
        elif etype == 51:
            p = 2
            while p < len(edata):
                group, klen = struct.unpack(">HH", edata[p:p + 4])
                out["key_share_groups"].append(group)
                p += 4 + klen
        elif etype == 35:
            out["session_ticket_offered"] = elen > 0
        elif etype == 41:
            out["psk_offered"] = True
        elif etype == 42:
            out["early_data_offered"] = True
    return out


# --- hello sources -----------------------------------------------------------

def memory_hello(server_hostname, alpn=None, max_version=None, session=None, ctx=None):
    if ctx is None:
        ctx = client_context(alpn, max_version)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname, session=session)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def client_context(alpn=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def make_cert(directory):
    cert, key = os.path.join(directory, "c.pem"), os.path.join(directory, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                    "/CN=resume.example.org", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def resumption_hello(cert, key, max_version):
    """Full handshake in memory, then the resuming hello (TLS 1.3: PSK,
    RFC 8446 section 4.2.11; TLS 1.2: session ticket, RFC 5077)."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    cctx = client_context(max_version=max_version)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = cctx.wrap_bio(c_in, c_out, server_hostname="resume.example.org")
    server = sctx.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    for _ in range(20):
        for i, side in enumerate((client, server)):
            if not done[i]:
                try:
                    side.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done):
            break
    server.write(b"x")
    c_in.write(s_out.read())
    client.read(1)  # processes NewSessionTicket (TLS 1.3 sends it post-handshake)
    session = client.session
    assert session is not None and session.has_ticket
    return memory_hello("resume.example.org", session=session, ctx=cctx)


def s_client_hello():
    """Captures `openssl s_client`'s hello on a loopback socket."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    proc = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
         "-servername", "OpenSSL.Example.net", "-alpn", "http/1.1",
         "-no_ign_eof"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listener.settimeout(10)
        conn, _ = listener.accept()
        conn.settimeout(10)
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
            try:
                _, consumed = split_records(data)
                data = data[:consumed]
                break
            except (AssertionError, struct.error):
                continue
        conn.close()
        return data
    finally:
        listener.close()
        proc.kill()
        proc.wait()


def halibut_hello():
    path = os.path.join(HERE, "../../../../../shared/vectors/halibut/client-4.3.24-keepalive.json")
    for candidate in (path, "/work/shared/vectors/halibut/client-4.3.24-keepalive.json"):
        if os.path.exists(candidate):
            with open(candidate) as f:
                vec = json.load(f)
            return bytes.fromhex(vec["connections"][0]["client_hello"]["record_hex"])
    return None


def with_post_quantum_share(record, pad_to=None):
    """Rewrites a TLS 1.3 hello the way a post-quantum client sends it: a
    GREASE group plus X25519MLKEM768 (0x11ec, a 1184-byte ML-KEM-768
    encapsulation key followed by a 32-byte X25519 share) first in
    supported_groups and key_share. Optionally appends a padding extension
    (RFC 7685) so the hello reaches `pad_to` record bytes."""
    rng = random.Random(7685)
    handshake, _ = split_records(record)
    body = bytearray(handshake[4:])
    pos = 2 + 32
    pos += 1 + body[pos]
    pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
    pos += 1 + body[pos]
    prefix = bytes(body[:pos])
    ext_end = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
    pos += 2
    exts = []
    while pos < ext_end:
        etype, elen = struct.unpack(">HH", body[pos:pos + 4])
        exts.append([etype, bytes(body[pos + 4:pos + 4 + elen])])
        pos += 4 + elen
    grease = 0x5a5a
    for ext in exts:
        if ext[0] == 10:
            groups = struct.pack(">HH", grease, 0x11ec) + ext[1][2:]
            ext[1] = struct.pack(">H", len(groups)) + groups
        elif ext[0] == 51:
            mlkem = bytes(rng.getrandbits(8) for _ in range(1184 + 32))
            shares = (struct.pack(">HH", grease, 1) + b"\x00"
                      + struct.pack(">HH", 0x11ec, len(mlkem)) + mlkem + ext[1][2:])
            ext[1] = struct.pack(">H", len(shares)) + shares
    def assemble(extensions):
        blob = b"".join(struct.pack(">HH", t, len(d)) + d for t, d in extensions)
        new_body = prefix + struct.pack(">H", len(blob)) + blob
        hs = b"\x01" + len(new_body).to_bytes(3, "big") + new_body
        return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs
    out = assemble(exts)
    if pad_to:
        # Grow the existing padding extension (extensions must not repeat,
        # RFC 8446 section 4.2), or add one before pre_shared_key.
        padding = next((ext for ext in exts if ext[0] == 21), None)
        if padding is None:
            padding = [21, b""]
            exts.insert(len(exts) - 1 if exts[-1][0] == 41 else len(exts), padding)
            out = assemble(exts)
        padding[1] = bytes(len(padding[1]) + pad_to - len(out))
        out = assemble(exts)
        assert len(out) == pad_to
    return out


def main():
    fixtures = {}
    fixtures["python-sni-alpn-h2"] = memory_hello("Portal.Example.COM", alpn=["h2", "http/1.1"])
    fixtures["python-no-alpn-agent"] = memory_hello("agent.example.com")
    fixtures["python-tls12-only"] = memory_hello("legacy.example.com", alpn=["http/1.1"],
                                                 max_version=ssl.TLSVersion.TLSv1_2)
    fixtures["python-no-sni"] = memory_hello(None, alpn=["h2"])
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        fixtures["python-tls13-psk-resumption"] = resumption_hello(cert, key, None)
        fixtures["python-tls12-ticket-resumption"] = resumption_hello(
            cert, key, ssl.TLSVersion.TLSv1_2)
    fixtures["openssl-s-client-alpn-http11"] = s_client_hello()
    halibut = halibut_hello()
    if halibut is not None:
        fixtures["halibut-4.3.24-agent"] = halibut
    base = fixtures["python-sni-alpn-h2"]
    fixtures["synthetic-pq-x25519mlkem768"] = with_post_quantum_share(base)
    fixtures["synthetic-pq-padded-2100"] = with_post_quantum_share(base, pad_to=2100)

    for name, data in fixtures.items():
        with open(os.path.join(HERE, name + ".hex"), "w") as f:
            f.write(data.hex() + "\n")
        with open(os.path.join(HERE, name + ".expected.json"), "w") as f:
            json.dump(decode_hello(data), f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{name}: {len(data)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
