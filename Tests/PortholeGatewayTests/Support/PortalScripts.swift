/// Stdlib-only Python peers for the portal tests.
enum PortalScripts {
    /// WebSocket client over TLS (RFC 6455): upgrade at argv[3], send a text
    /// frame and a 100 KB binary frame, expect both echoed, then close.
    /// Prints "status=101 text=ok binary=ok close=ok".
    static let webSocketEcho = #"""
import base64, os, socket, ssl, struct, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname="localhost")
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
buffer = b""
while b"\r\n\r\n" not in buffer:
    chunk = sock.recv(65536)
    if not chunk: sys.exit("closed before the 101")
    buffer += chunk
head, buffer = buffer.split(b"\r\n\r\n", 1)
status = head.split(b" ")[1].decode()
def recv_exact(n):
    global buffer
    while len(buffer) < n:
        chunk = sock.recv(65536)
        if not chunk: raise EOFError()
        buffer += chunk
    data, buffer = buffer[:n], buffer[n:]
    return data
def send(opcode, payload):
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    if len(payload) < 126: header += bytes([0x80 | len(payload)])
    elif len(payload) < 65536: header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    else: header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
def receive():
    first, second = recv_exact(2)
    length = second & 0x7F
    if length == 126: length = struct.unpack("!H", recv_exact(2))[0]
    elif length == 127: length = struct.unpack("!Q", recv_exact(8))[0]
    return first & 0x0F, recv_exact(length)
send(1, b"hello through porthole")
text = receive() == (1, b"hello through porthole")
blob = os.urandom(100000)
send(2, blob)
binary = receive() == (2, blob)
send(8, b"")
close = receive()[0] == 8
print("status=%s text=%s binary=%s close=%s" % (status, "ok" if text else "bad", "ok" if binary else "bad", "ok" if close else "bad"))
"""#

    /// A hand-rolled HTTP/2 client (HPACK literals only) for graceful
    /// shutdown: opens stream 1 on argv[3] (a slow path), prints "open" once
    /// the server's SETTINGS arrived,
    /// waits for GOAWAY, then opens stream 3 and reads until the connection
    /// ends. Prints JSON: GOAWAY's last stream id and error code, and each
    /// stream's status / reset / completion.
    static let goAwayProbe = #"""
import json, socket, ssl, struct, sys
host, port, slow_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])
sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=60), server_hostname="localhost")
def literal(name, value):
    # Literal header field without indexing, new name (RFC 7541 §6.2.2); lengths < 127.
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
def headers_frame(stream, path):
    block = (literal(b":method", b"GET") + literal(b":scheme", b"https") + literal(b":path", path)
             + literal(b":authority", b"localhost"))
    return struct.pack("!I", len(block))[1:] + bytes([1, 0x4 | 0x1]) + struct.pack("!I", stream) + block
def frame(kind, flags, stream, payload=b""):
    return struct.pack("!I", len(payload))[1:] + bytes([kind, flags]) + struct.pack("!I", stream) + payload
sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0) + headers_frame(1, slow_path.encode()))
buffer = b""
def read_frame():
    global buffer
    while len(buffer) < 9 or len(buffer) < 9 + int.from_bytes(buffer[:3], "big"):
        chunk = sock.recv(65536)
        if not chunk: return None
        buffer += chunk
    length = int.from_bytes(buffer[:3], "big")
    kind, flags, stream = buffer[3], buffer[4], struct.unpack("!I", buffer[5:9])[0] & 0x7FFFFFFF
    payload = buffer[9:9 + length]; buffer = buffer[9 + length:]
    return kind, flags, stream, payload
# The server's SETTINGS mean the HTTP/2 handler is in place and has read
# our first flight, stream 1 included.
while True:
    kind, flags, stream, payload = read_frame()
    if kind == 4 and not flags & 1:
        sock.sendall(frame(4, 1, 0)); break
print("open", flush=True)
result = {"streams": {}}
sent_second = False
while True:
    try:
        item = read_frame()
    except (ConnectionError, ssl.SSLError, socket.timeout):
        item = None
    if item is None: break
    kind, flags, stream, payload = item
    if kind == 4 and not flags & 1: sock.sendall(frame(4, 1, 0))
    elif kind == 7:
        result["goaway_last_stream"] = struct.unpack("!I", payload[:4])[0] & 0x7FFFFFFF
        result["goaway_error"] = struct.unpack("!I", payload[4:8])[0]
        if not sent_second:
            sent_second = True
            sock.sendall(headers_frame(3, b"/echo"))
    elif kind == 1:
        result["streams"].setdefault(str(stream), {})["headers"] = True
        if flags & 1: result["streams"][str(stream)]["complete"] = True
    elif kind == 0:
        entry = result["streams"].setdefault(str(stream), {})
        entry["bytes"] = entry.get("bytes", 0) + len(payload)
        if payload: sock.sendall(frame(8, 0, 0, struct.pack("!I", len(payload))) + frame(8, 0, stream, struct.pack("!I", len(payload))))
        if flags & 1: entry["complete"] = True
    elif kind == 3:
        result["streams"].setdefault(str(stream), {})["reset"] = struct.unpack("!I", payload)[0]
print(json.dumps(result), flush=True)
"""#

    /// Rapid reset (CVE-2023-44487): opens and cancels argv[3] streams in
    /// one burst, then reads until GOAWAY or EOF. Prints "goaway=<code>"
    /// or "goaway=none".
    static let rapidReset = #"""
import socket, ssl, struct, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])
sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=30), server_hostname="localhost")
def literal(name, value):
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
def frame(kind, flags, stream, payload=b""):
    return struct.pack("!I", len(payload))[1:] + bytes([kind, flags]) + struct.pack("!I", stream) + payload
block = literal(b":method", b"GET") + literal(b":scheme", b"https") + literal(b":path", b"/") + literal(b":authority", b"localhost")
burst = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)
for i in range(count):
    stream = 2 * i + 1
    burst += frame(1, 0x4, stream, block) + frame(3, 0, stream, struct.pack("!I", 8))
try:
    sock.sendall(burst)
except (ConnectionError, ssl.SSLError):
    pass
buffer, code = b"", "none"
try:
    while True:
        chunk = sock.recv(65536)
        if not chunk: break
        buffer += chunk
        while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
            length = int.from_bytes(buffer[:3], "big")
            if buffer[3] == 7: code = str(struct.unpack("!I", buffer[13:17])[0])
            buffer = buffer[9 + length:]
except (ConnectionError, ssl.SSLError, socket.timeout):
    pass
print("goaway=" + code)
"""#
}
