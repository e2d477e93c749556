#!/usr/bin/env python3
"""An independent Halibut polling agent for Porthole's tests.

Written from shared/protocol/halibut.md only (stdlib ssl + zlib + the small
BSON codec below); it shares no code with Porthole. It connects, subscribes
and answers requests with built-in test services until killed.

  halibut_agent.py --port P --cert C --key K --subscription poll://abc/
                   [--transport raw|ws] [--newline crlf|lf] [--coalesce]
                   [--count N] [--server-thumbprint T] [--once]
"""
import argparse, hashlib, os, socket, ssl, struct, sys, threading, time, uuid, zlib, base64

# ---------------------------------------------------------------- BSON (§5)
class Int64(int):
    pass

class Binary:
    def __init__(self, subtype, data):
        self.subtype, self.data = subtype, bytes(data)
    def __eq__(self, other):
        return isinstance(other, Binary) and (self.subtype, self.data) == (other.subtype, other.data)
    def __repr__(self):
        return "Binary(%d, %s)" % (self.subtype, self.data.hex())

class DateTime:
    def __init__(self, ms):
        self.ms = ms

def guid_to_dotnet(u):
    b = u.bytes
    return b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]

def bson_encode_document(doc):
    body = b"".join(bson_encode_element(str(k), v) for k, v in doc.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"

def bson_encode_element(key, value):
    name = key.encode() + b"\x00"
    if value is None:
        return b"\x0a" + name
    if isinstance(value, bool):
        return b"\x08" + name + (b"\x01" if value else b"\x00")
    if isinstance(value, Int64):
        return b"\x12" + name + struct.pack("<q", value)
    if isinstance(value, int):
        if -2**31 <= value < 2**31:
            return b"\x10" + name + struct.pack("<i", value)
        return b"\x12" + name + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + name + struct.pack("<d", value)
    if isinstance(value, str):
        data = value.encode() + b"\x00"
        return b"\x02" + name + struct.pack("<i", len(data)) + data
    if isinstance(value, Binary):
        return b"\x05" + name + struct.pack("<iB", len(value.data), value.subtype) + value.data
    if isinstance(value, DateTime):
        return b"\x09" + name + struct.pack("<q", value.ms)
    if isinstance(value, dict):
        return b"\x03" + name + bson_encode_document(value)
    if isinstance(value, (list, tuple)):
        return b"\x04" + name + bson_encode_document({str(i): v for i, v in enumerate(value)})
    raise TypeError("cannot encode %r" % (value,))

def bson_decode_document(data, offset=0):
    (length,) = struct.unpack_from("<i", data, offset)
    end = offset + length - 1
    pos = offset + 4
    doc = {}
    while pos < end:
        kind = data[pos]; pos += 1
        zero = data.index(b"\x00", pos)
        key = data[pos:zero].decode(); pos = zero + 1
        if kind == 0x01:
            (value,) = struct.unpack_from("<d", data, pos); pos += 8
        elif kind == 0x02:
            (n,) = struct.unpack_from("<i", data, pos)
            value = data[pos + 4:pos + 4 + n - 1].decode(); pos += 4 + n
        elif kind in (0x03, 0x04):
            (n,) = struct.unpack_from("<i", data, pos)
            value = bson_decode_document(data, pos)
            if kind == 0x04:
                value = [value[k] for k in value]
            pos += n
        elif kind == 0x05:
            n, subtype = struct.unpack_from("<iB", data, pos)
            value = Binary(subtype, data[pos + 5:pos + 5 + n]); pos += 5 + n
        elif kind == 0x08:
            value = data[pos] == 1; pos += 1
        elif kind == 0x09:
            (ms,) = struct.unpack_from("<q", data, pos); value = DateTime(ms); pos += 8
        elif kind == 0x0A:
            value = None
        elif kind == 0x10:
            (value,) = struct.unpack_from("<i", data, pos); pos += 4
        elif kind == 0x12:
            (v,) = struct.unpack_from("<q", data, pos); value = Int64(v); pos += 8
        else:
            raise ValueError("unsupported BSON type 0x%02x" % kind)
        doc[key] = value
    if data[end] != 0:
        raise ValueError("BSON document not terminated")
    return doc

# ------------------------------------------------------ transports (§2, §8)
class RawTransport:
    def __init__(self, tls):
        self.tls = tls
    def send(self, data):
        self.tls.sendall(data)
    def recv(self):
        return self.tls.recv(65536)

class WebSocketTransport:
    """Every write is its own frame of one never-ending binary message
    (FIN=0: opcode 2 first, then continuations), as the .NET agent does."""
    def __init__(self, tls, path, host):
        self.tls = tls
        key = base64.b64encode(os.urandom(16)).decode()
        request = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: Octopus\r\n"
                   "X-Octopus-RequestId: %s\r\n\r\n") % (path, host, key, uuid.uuid4())
        tls.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the WebSocket upgrade")
            head += chunk
        head, self.leftover = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise ConnectionError("upgrade refused: " + lines[0])
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != accept or headers.get("sec-websocket-protocol") != "Octopus":
            raise ConnectionError("bad upgrade response headers: %r" % headers)
        self.started = False
        self.frame(0x1, b"MX", fin=True)

    def frame(self, opcode, payload, fin):
        mask = os.urandom(4)
        header = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.tls.sendall(header + mask + masked)

    def send(self, data):
        self.frame(0x0 if self.started else 0x2, data, fin=False)
        self.started = True

    def recv(self):
        while True:
            frame = self.read_frame()
            if frame is None:
                return b""
            opcode, payload = frame
            if opcode in (0x0, 0x2):
                if payload:
                    return payload
            elif opcode == 0x9:
                self.frame(0xA, payload, fin=True)
            elif opcode == 0x8:
                return b""

    def read_exact(self, n):
        while len(self.leftover) < n:
            chunk = self.tls.recv(65536)
            if not chunk:
                return None
            self.leftover += chunk
        data, self.leftover = self.leftover[:n], self.leftover[n:]
        return data

    def read_frame(self):
        head = self.read_exact(2)
        if head is None:
            return None
        opcode, n = head[0] & 0x0F, head[1] & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", self.read_exact(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", self.read_exact(8))
        payload = self.read_exact(n) if n else b""
        return opcode, payload

# ---------------------------------------------------------- the protocol
class Closed(Exception):
    pass

class Agent:
    def __init__(self, args, subscription, index):
        self.args, self.subscription, self.index = args, subscription, index
        self.nl = "\r\n" if args.newline == "crlf" else "\n"
        self.buffer = b""
        self.pending_writes = []

    def connect(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if self.args.cert:
            ctx.load_cert_chain(self.args.cert, self.args.key)
        raw = socket.create_connection((self.args.host, self.args.port), timeout=self.args.io_timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = ctx.wrap_socket(raw, server_hostname=self.args.sni)
        if self.args.server_thumbprint:
            seen = hashlib.sha1(tls.getpeercert(binary_form=True)).hexdigest().upper()
            if seen != self.args.server_thumbprint.upper():
                raise ConnectionError("server thumbprint %s is not the pinned %s" % (seen, self.args.server_thumbprint))
        if self.args.transport == "ws":
            self.io = WebSocketTransport(tls, self.args.path, "%s:%d" % (self.args.host, self.args.port))
        else:
            self.io = RawTransport(tls)

    # Writes: one unit per write, unless --coalesce gathers them.
    def write(self, data):
        if self.args.coalesce:
            self.pending_writes.append(data)
        else:
            self.io.send(data)

    def flush(self):
        if self.pending_writes:
            self.io.send(b"".join(self.pending_writes))
            self.pending_writes = []

    def fill(self):
        chunk = self.io.recv()
        if not chunk:
            raise Closed()
        self.buffer += chunk

    def read_line(self):
        while b"\n" not in self.buffer:
            self.fill()
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode()

    def read_message(self):
        inflater = zlib.decompressobj(-15)
        out = b""
        while True:
            if not self.buffer:
                self.fill()
            data, self.buffer = self.buffer, b""
            out += inflater.decompress(data)
            if inflater.eof:
                self.buffer = inflater.unused_data
                return bson_decode_document(out)["Message"]

    def write_message(self, payload):
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = bson_encode_document({"Message": payload})
        self.write(compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH) + compressor.flush(zlib.Z_FINISH))

    def read_streams(self, value, found):
        if isinstance(value, dict):
            if str(value.get("$type", "")).startswith("Halibut.DataStream"):
                found.append(value)
            else:
                for v in value.values():
                    self.read_streams(v, found)
        elif isinstance(value, list):
            for v in value:
                self.read_streams(v, found)
        return found

    def read_exact(self, n):
        while len(self.buffer) < n:
            self.fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def run_once(self):
        self.connect()
        if self.args.transport == "raw":
            # Over WebSocket the text message "MX" is the preamble (§8).
            self.write(("MX" + self.nl + self.nl).encode())
        self.write(("MX-SUBSCRIBER 1.0 %s%s%s" % (self.subscription, self.nl, self.nl)).encode())
        self.flush()
        line = self.read_line()
        while line == "":
            line = self.read_line()
        if not line.startswith("MX-SERVER"):
            raise ConnectionError("expected MX-SERVER, got %r" % line)
        if self.read_line() != "":
            raise ConnectionError("MX-SERVER not followed by an empty line")
        print("SUBSCRIBED %d %s" % (self.index, self.subscription), flush=True)
        while True:
            request = self.read_message()
            if request is not None:
                streams = {}
                for descriptor in self.read_streams(request.get("params"), []):
                    sid = self.read_exact(16)
                    (n,) = struct.unpack("<q", self.read_exact(8))
                    body = self.read_exact(n)
                    (trailer,) = struct.unpack("<q", self.read_exact(8))
                    if trailer != n or sid != descriptor["id"].data:
                        raise ConnectionError("bad stream frame")
                    streams[sid] = body
                self.answer(request, streams)
            self.write(("NEXT" + self.nl).encode())
            self.flush()
            line = self.read_line()
            while line == "":
                line = self.read_line()
            if line != "PROCEED":
                raise ConnectionError("expected PROCEED, got %r" % line)

    def answer(self, request, streams):
        service, method, params = request["service"], request["method"], request.get("params") or []
        rid = request["id"]
        result, error, out_streams = None, None, []
        if service == "IEchoService" and method.lower() == "sayhello":
            result = "Hello " + params[0]
        elif service == "IEchoService" and method.lower() == "echo":
            result = params[0] if params else None
        elif service == "IEchoService" and method.lower() == "fail":
            error = {"message": "Failure requested: " + str(params[0]), "details": "at TestServices.Fail", "HalibutErrorType": None}
        elif service == "IEchoService" and method.lower() == "sleep":
            time.sleep(float(params[0]) / 1000.0)
            result = "slept"
        elif service == "IEchoService" and method.lower() == "wrongid":
            rid = rid + "-wrong"
            result = "answer with the wrong id"
        elif service == "IEchoService" and method.lower() == "die":
            os._exit(3)  # killed mid-request: no response, no END
        elif service == "IFileService" and method.lower() == "uploadfile":
            descriptor = params[1]
            result = Int64(len(streams[descriptor["id"].data]))
        elif service == "IFileService" and method.lower() == "downloadfile":
            body = ("Contents of " + params[0] + "\n").encode()
            sid = uuid.uuid4()
            result = {"$type": "Halibut.DataStream, Halibut", "id": Binary(4, guid_to_dotnet(sid)), "length": Int64(len(body))}
            out_streams.append((guid_to_dotnet(sid), body))
        else:
            error = {"message": "Service not found: %s.%s" % (service, method), "details": None}
        response = {"$type": "Halibut.Transport.Protocol.ResponseMessage, Halibut", "id": rid, "error": error, "result": result}
        self.write_message(response)
        for sid, body in out_streams:
            n = struct.pack("<q", len(body))
            for part in (sid, n, body, n):
                self.write(part)

def run_agent(args, subscription, index):
    while True:
        agent = Agent(args, subscription, index)
        try:
            agent.run_once()
        except (Closed, ConnectionError, OSError, ssl.SSLError) as error:
            print("DISCONNECTED %d %s" % (index, error), flush=True)
        if args.once:
            return
        time.sleep(0.2)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sni", default="localhost")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--subscription", required=True, help="with --count N, {i} is replaced by the agent number")
    parser.add_argument("--transport", choices=["raw", "ws"], default="raw")
    parser.add_argument("--path", default="/OctopusComms")
    parser.add_argument("--newline", choices=["crlf", "lf"], default="crlf")
    parser.add_argument("--coalesce", action="store_true", help="put units that follow each other into one write")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--server-thumbprint")
    parser.add_argument("--once", action="store_true", help="do not reconnect")
    parser.add_argument("--io-timeout", type=float, default=120)
    args = parser.parse_args()
    threading.stack_size(256 * 1024)
    threads = []
    for i in range(args.count):
        subscription = args.subscription.replace("{i}", str(i))
        t = threading.Thread(target=run_agent, args=(args, subscription, i), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()

if __name__ == "__main__":
    main()
