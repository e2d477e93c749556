#!/usr/bin/env python3
"""A Halibut polling *server* for testing Porthole's agent, written from
shared/protocol/halibut.md with the Python standard library only (ssl, zlib,
a small BSON codec). It shares no code with the Swift implementation.

Modes:
  --calls JSON     push these calls ([[service, method, [params...]], ...]) to
                   the first agent that subscribes, check each answer's
                   framing, then push a null message and print the results.
  --replay FILE    play the real Halibut listener's s2c units of a recorded
                   server-*.json vector to the agent, read what it sends back
                   and compare it in shape with the vector's c2s units.
  --expect-handshake-failure   accept one connection whose TLS handshake must
                   fail (the agent rejected our certificate).

Prints "PORT <n>" once listening, then "RESULT <json>" and exits 0; any
check that fails exits 1 with the reason on stderr. Params: strings stay
strings, {"$int64": n} / {"$int32": n} are typed integers, {"$upload": text}
becomes a DataStream with that text.
"""
import argparse, base64, hashlib, json, os, socket, ssl, struct, sys, uuid, zlib

# ---------------------------------------------------------------- BSON (§5)

class Int64(int):
    pass

class Binary:
    def __init__(self, subtype, data):
        self.subtype, self.data = subtype, bytes(data)

def guid_to_dotnet(u):
    b = u.bytes
    return b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]

def dotnet_to_guid(b):
    return uuid.UUID(bytes=b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:])

def bson_encode(doc):
    body = b""
    items = doc.items() if isinstance(doc, dict) else ((str(i), v) for i, v in enumerate(doc))
    for key, value in items:
        name = key.encode() + b"\0"
        if value is None:
            body += b"\x0a" + name
        elif isinstance(value, bool):
            body += b"\x08" + name + (b"\x01" if value else b"\x00")
        elif isinstance(value, Int64):
            body += b"\x12" + name + struct.pack("<q", value)
        elif isinstance(value, int):
            body += b"\x10" + name + struct.pack("<i", value)
        elif isinstance(value, float):
            body += b"\x01" + name + struct.pack("<d", value)
        elif isinstance(value, str):
            raw = value.encode()
            body += b"\x02" + name + struct.pack("<i", len(raw) + 1) + raw + b"\0"
        elif isinstance(value, Binary):
            body += b"\x05" + name + struct.pack("<i", len(value.data)) + bytes([value.subtype]) + value.data
        elif isinstance(value, dict):
            body += b"\x03" + name + bson_encode(value)
        elif isinstance(value, list):
            body += b"\x04" + name + bson_encode(value)
        else:
            raise TypeError(type(value))
    return struct.pack("<i", len(body) + 5) + body + b"\0"

def bson_decode(data, array=False):
    (length,) = struct.unpack_from("<i", data, 0)
    if length != len(data) or data[-1] != 0:
        raise ValueError("BSON length %d does not match %d bytes" % (length, len(data)))
    pos, out = 4, []
    while data[pos] != 0:
        kind = data[pos]; end = data.index(b"\0", pos + 1)
        key = data[pos + 1:end].decode(); pos = end + 1
        if kind == 0x01:
            value = struct.unpack_from("<d", data, pos)[0]; pos += 8
        elif kind == 0x02:
            (n,) = struct.unpack_from("<i", data, pos); value = data[pos + 4:pos + 3 + n].decode(); pos += 4 + n
        elif kind in (0x03, 0x04):
            (n,) = struct.unpack_from("<i", data, pos); value = bson_decode(data[pos:pos + n], kind == 0x04); pos += n
        elif kind == 0x05:
            (n,) = struct.unpack_from("<i", data, pos); value = Binary(data[pos + 4], data[pos + 5:pos + 5 + n]); pos += 5 + n
        elif kind == 0x08:
            value = data[pos] == 1; pos += 1
        elif kind == 0x09:
            value = ("datetime", struct.unpack_from("<q", data, pos)[0]); pos += 8
        elif kind == 0x0A:
            value = None
        elif kind == 0x10:
            value = struct.unpack_from("<i", data, pos)[0]; pos += 4
        elif kind == 0x12:
            value = Int64(struct.unpack_from("<q", data, pos)[0]); pos += 8
        else:
            raise ValueError("unsupported BSON type 0x%02x" % kind)
        out.append((key, value))
    return [v for _, v in out] if array else dict(out)

def to_json(value):
    """Typed JSON for reports: int64 as {"$numberLong"}, binary as base64."""
    if isinstance(value, Int64):
        return {"$numberLong": str(int(value))}
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return {"$numberInt": str(value)}
    if isinstance(value, Binary):
        return {"$binary": {"base64": base64.b64encode(value.data).decode(), "subType": "%02x" % value.subtype}}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return str(value)

def deflate(data):
    """§4: level 6, raw deflate, sync flush then finish."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH) + c.flush(zlib.Z_FINISH)

# ------------------------------------------------------------- transports

class Failure(Exception):
    pass

class Transport:
    """Reads the agent's bytes as they arrive, one TLS record (or one
    WebSocket frame payload) per chunk, and remembers where chunks ended so
    the checks can tell whether two units shared a record (§4)."""
    def __init__(self, tls):
        self.tls, self.buffer, self.coalesced = tls, b"", []

    def need(self):
        chunk = self.read_chunk()
        if not chunk:
            raise Failure("the agent closed the connection")
        self.buffer += chunk

    def unit_done(self, what):
        # Bytes left over from the same chunk: the agent put two units in one record.
        if self.buffer:
            self.coalesced.append(what)

    def read_line(self, what):
        while b"\n" not in self.buffer:
            self.need()
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def read_exact(self, n, what):
        while len(self.buffer) < n:
            self.need()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        self.unit_done(what)
        return data

    def read_message(self):
        d = zlib.decompressobj(-15); out = b""
        while True:
            if not self.buffer:
                self.need()
            out += d.decompress(self.buffer); self.buffer = b""
            if d.eof:
                self.buffer = d.unused_data
                self.unit_done("message")
                return out

class RawTransport(Transport):
    def read_chunk(self):
        return self.tls.recv(65536)

    def send_unit(self, data):
        self.tls.sendall(data)

class WebSocketTransport(Transport):
    """§8: upgrade, a text "MX", then binary frames whose payloads are
    consumed as they arrive, never waiting for FIN."""
    def __init__(self, tls, path):
        super().__init__(tls)
        self.frames = []  # (opcode, fin) of each data frame, for the report
        self.raw = b""
        while b"\r\n\r\n" not in self.raw:
            chunk = tls.recv(65536)
            if not chunk:
                raise Failure("connection closed during the upgrade request")
            self.raw += chunk
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        self.request_headers = headers
        if method != "GET" or target != path:
            raise Failure("upgrade request is %r, expected GET %s" % (lines[0], path))
        if headers.get("sec-websocket-protocol") != "Octopus":
            raise Failure("Sec-WebSocket-Protocol is %r, expected Octopus" % headers.get("sec-websocket-protocol"))
        if not headers.get("x-octopus-requestid"):
            raise Failure("no X-Octopus-RequestId header")
        if headers.get("upgrade", "").lower() != "websocket":
            raise Failure("no Upgrade: websocket header")
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        tls.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: Octopus\r\n\r\n" % accept).encode())
        opcode, _, payload = self.read_frame()
        if opcode != 1 or payload != b"MX":
            raise Failure("first WebSocket message is opcode %d %r, expected text 'MX'" % (opcode, payload))

    def read_frame(self):
        def need(n):
            while len(self.raw) < n:
                chunk = self.tls.recv(65536)
                if not chunk:
                    return False
                self.raw += chunk
            return True
        if not need(2):
            return None, True, b""
        b0, b1 = self.raw[0], self.raw[1]
        fin, opcode, masked, n = b0 >> 7, b0 & 0x0F, b1 >> 7, b1 & 0x7F
        pos = 2
        if n == 126:
            need(4); n = struct.unpack(">H", self.raw[2:4])[0]; pos = 4
        elif n == 127:
            need(10); n = struct.unpack(">Q", self.raw[2:10])[0]; pos = 10
        if not masked:
            raise Failure("client frame is not masked (RFC 6455 §5.3)")
        need(pos + 4 + n)
        key = self.raw[pos:pos + 4]; payload = bytes(b ^ key[i % 4] for i, b in enumerate(self.raw[pos + 4:pos + 4 + n]))
        self.raw = self.raw[pos + 4 + n:]
        return opcode, fin, payload

    def read_chunk(self):
        while True:
            opcode, fin, payload = self.read_frame()
            if opcode is None or opcode == 8:
                return b""
            if opcode in (0, 2):
                self.frames.append((opcode, fin))
                if payload:
                    return payload

    def send_unit(self, data):
        n = len(data)
        head = bytes([0x82]) + (bytes([n]) if n < 126 else (bytes([126]) + struct.pack(">H", n) if n < 65536 else bytes([127]) + struct.pack(">Q", n)))
        self.tls.sendall(head + data)

# ----------------------------------------------------------- the session

def read_text_unit(t, what):
    """Preamble or identity: lines up to an empty line (LF or CRLF)."""
    lines, endings = [], set()
    while True:
        line = t.read_line(what)
        endings.add("crlf" if line.endswith(b"\r") else "lf")
        line = line.rstrip(b"\r")
        if line == b"" and lines:
            t.unit_done(what)
            return lines, endings
        if line:
            lines.append(line.decode())

def read_control(t):
    while True:
        line = t.read_line("control")
        ending = "crlf" if line.endswith(b"\r") else "lf"
        line = line.rstrip(b"\r")
        if line:
            t.unit_done("control")
            return line.decode(), ending

def find_streams(value, found):
    if isinstance(value, dict):
        if str(value.get("$type", "")).startswith("Halibut.DataStream"):
            found.append(value)
        else:
            for v in value.values():
                find_streams(v, found)
    elif isinstance(value, list):
        for v in value:
            find_streams(v, found)
    return found

def read_streams(t, streams):
    bodies = {}
    for s in streams:
        sid = t.read_exact(16, "stream id")
        (length,) = struct.unpack("<q", t.read_exact(8, "stream length"))
        if sid != s["id"].data or length != s["length"]:
            raise Failure("stream frame %s/%d does not match the placeholder" % (dotnet_to_guid(sid), length))
        body = t.read_exact(length, "stream body") if length else b""
        (trailer,) = struct.unpack("<q", t.read_exact(8, "stream trailer"))
        if trailer != length:
            raise Failure("stream trailer %d != length %d" % (trailer, length))
        bodies[str(dotnet_to_guid(sid))] = body
    return bodies

def convert_param(p, uploads):
    if isinstance(p, dict) and "$int64" in p:
        return Int64(p["$int64"])
    if isinstance(p, dict) and "$int32" in p:
        return int(p["$int32"])
    if isinstance(p, dict) and "$upload" in p:
        data = p["$upload"].encode(); sid = uuid.uuid4()
        uploads.append((sid, data))
        return {"$type": "Halibut.DataStream, Halibut", "id": Binary(4, guid_to_dotnet(sid)), "length": Int64(len(data))}
    return p

def handshake_subscriber(t, send_identity=True):
    pre_endings = set()
    if isinstance(t, RawTransport):
        # Over WebSocket the text message "MX" is the preamble; the byte
        # protocol starts at the identity line (§8).
        preamble, pre_endings = read_text_unit(t, "preamble")
        if preamble != ["MX"]:
            raise Failure("preamble is %r, expected MX" % preamble)
    identity, id_endings = read_text_unit(t, "identity")
    parts = identity[0].split(" ")
    if parts[0] != "MX-SUBSCRIBER" or len(parts) < 3:
        raise Failure("identity is %r" % identity)
    if send_identity:
        t.send_unit(b"MX-SERVER 1.0\r\n\r\n")
    return parts[2], pre_endings | id_endings

def run_calls(t, calls, subscription):
    results, endings = [], set()
    for n, (service, method, params) in enumerate(calls, 1):
        uploads = []
        request_id = "%s::%s[%d] / %s" % (service, method, n, uuid.uuid4())
        payload = {"$type": "Halibut.Transport.Protocol.RequestMessage, Halibut", "id": request_id,
                   "activityId": Binary(4, guid_to_dotnet(uuid.uuid4())),
                   "endpoint": {"BaseUri": subscription, "RemoteThumbprint": None, "Proxy": None, "IsWebSocketEndpoint": False},
                   "service": service, "method": method, "params": [convert_param(p, uploads) for p in params]}
        t.send_unit(deflate(bson_encode({"Message": payload})))
        for sid, data in uploads:  # §4: id, length, body, trailer each in its own record
            t.send_unit(guid_to_dotnet(sid)); t.send_unit(struct.pack("<q", len(data)))
            t.send_unit(data); t.send_unit(struct.pack("<q", len(data)))
        response = bson_decode(t.read_message())["Message"]
        if not str(response.get("$type", "")).startswith("Halibut.Transport.Protocol.ResponseMessage"):
            raise Failure("answer is not a ResponseMessage: %r" % to_json(response))
        if response.get("id") != request_id:
            raise Failure("response id %r != request id %r" % (response.get("id"), request_id))
        bodies = read_streams(t, find_streams(response.get("result"), []))
        line, ending = read_control(t); endings.add(ending)
        if line != "NEXT":
            raise Failure("expected NEXT, got %r" % line)
        t.send_unit(b"PROCEED\r\n")
        results.append({"id": response["id"], "result": to_json(response.get("result")), "error": to_json(response.get("error")),
                        "streams": {k: v.decode("latin-1") for k, v in bodies.items()}})
    # §7: a null message, acknowledged with NEXT.
    t.send_unit(deflate(bson_encode({"Message": None})))
    line, ending = read_control(t); endings.add(ending)
    if line != "NEXT":
        raise Failure("expected NEXT after a null message, got %r" % line)
    t.send_unit(b"PROCEED\r\n")
    return results, endings

def replay(t, vector, subscription):
    """Send the real listener's s2c units; compare the agent's c2s units in
    shape with the vector's."""
    compared = 0
    for u in vector["units"]:
        if u["kind"] == "event":
            break
        if u["dir"] == "s2c":
            t.send_unit(bytes.fromhex(u["hex"]))
            continue
        kind = u["kind"]
        if kind in ("preamble", "identity"):
            continue  # read by handshake_subscriber
        if kind == "control":
            expected = u["text"].strip()
            if expected == "END":
                break  # the test peer chose to end; our agent keeps polling
            line, _ = read_control(t)
            if line != expected:
                raise Failure("unit %d: agent sent %r, the vector has %r" % (u["seq"], line, expected))
        elif kind == "message":
            got = to_json(bson_decode(t.read_message()))
            want = u["json"]
            gm, wm = got["Message"], want["Message"]
            for key in ("$type", "id"):
                if gm.get(key) != wm.get(key):
                    raise Failure("unit %d: %s is %r, the vector has %r" % (u["seq"], key, gm.get(key), wm.get(key)))
            if (gm.get("error") is None) != (wm.get("error") is None):
                raise Failure("unit %d: error %r, the vector has %r" % (u["seq"], gm.get("error"), wm.get("error")))
            if wm.get("error") and gm["error"]["message"] != wm["error"]["message"]:
                raise Failure("unit %d: error message %r != %r" % (u["seq"], gm["error"]["message"], wm["error"]["message"]))
            gr, wr = gm.get("result"), wm.get("result")
            if isinstance(wr, dict) and wr.get("$type", "").startswith("Halibut.DataStream"):
                if not isinstance(gr, dict) or gr.get("$type") != wr["$type"] or gr.get("length") != wr["length"]:
                    raise Failure("unit %d: result %r is not a DataStream like %r" % (u["seq"], gr, wr))
            elif gr != wr:
                raise Failure("unit %d: result %r, the vector has %r" % (u["seq"], gr, wr))
        elif kind == "datastream":
            part = u["stream_part"]; want = bytes.fromhex(u["hex"])
            got = t.read_exact(len(want), "stream " + part)
            if part != "id" and got != want:
                raise Failure("unit %d: stream %s %r != %r" % (u["seq"], part, got, want))
        else:
            raise Failure("unit %d: unexpected kind %s" % (u["seq"], kind))
        compared += 1
    return compared

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True); ap.add_argument("--key", required=True)
    ap.add_argument("--client-cert", help="the agent's certificate (trusted as its own anchor)")
    ap.add_argument("--client-thumbprint")
    ap.add_argument("--transport", choices=["raw", "websocket"], default="raw")
    ap.add_argument("--path", default="/OctopusComms")
    ap.add_argument("--calls"); ap.add_argument("--replay")
    ap.add_argument("--expect-handshake-failure", action="store_true")
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_cert:
        # §1: request a client certificate; the thumbprint is what counts.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(a.client_cert)
    seen_sni = []
    ctx.sni_callback = lambda sock, name, context: seen_sni.append(name) and None
    listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(8)
    listener.settimeout(a.timeout)
    print("PORT %d" % listener.getsockname()[1], flush=True)
    raw, _ = listener.accept(); raw.settimeout(a.timeout)
    try:
        tls = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError) as e:
        if a.expect_handshake_failure:
            print("RESULT " + json.dumps({"handshake": "failed", "error": str(e)}), flush=True)
            return 0
        raise Failure("TLS handshake failed: %s" % e)
    if a.expect_handshake_failure:
        raise Failure("the handshake succeeded although the agent should have rejected our certificate")
    report = {"tls_version": tls.version(), "alpn": tls.selected_alpn_protocol(), "sni": seen_sni[0] if seen_sni else None}
    der = tls.getpeercert(binary_form=True)
    report["client_thumbprint"] = hashlib.sha1(der).hexdigest().upper() if der else None
    if a.client_thumbprint and report["client_thumbprint"] != a.client_thumbprint.upper():
        raise Failure("client thumbprint %s, expected %s" % (report["client_thumbprint"], a.client_thumbprint))
    t = RawTransport(tls) if a.transport == "raw" else WebSocketTransport(tls, a.path)
    # In replay mode the recorded MX-SERVER unit is sent by replay().
    subscription, endings = handshake_subscriber(t, send_identity=not a.replay)
    report["subscription"] = subscription
    if a.replay:
        with open(a.replay) as f:
            report["compared_units"] = replay(t, json.load(f), subscription)
    else:
        results, control_endings = run_calls(t, json.loads(a.calls or "[]"), subscription)
        report["results"] = results; endings |= control_endings
    report["line_endings"] = sorted(endings)
    report["coalesced_units"] = t.coalesced
    if isinstance(t, WebSocketTransport):
        report["frames"] = t.frames[:4]
        report["upgrade_headers"] = {k: v for k, v in t.request_headers.items() if k.startswith("sec-websocket-protocol") or k == "host"}
    print("RESULT " + json.dumps(report), flush=True)
    tls.close()
    return 0

if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print("FAILED: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
