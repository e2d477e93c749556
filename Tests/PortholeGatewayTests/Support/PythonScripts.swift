/// Small stdlib-only Python clients used as independent peers.
enum PythonScripts {
    /// TLS handshake whose every byte goes out in its own write (with
    /// TCP_NODELAY and a tiny pause), then one HTTP/1.1 request.
    static let oneByteHandshake = #"""
import socket, ssl, sys, time
host, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
sock = socket.create_connection((host, port)); sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def send_bytewise():
    data = outgoing.read()
    for b in data:
        sock.sendall(bytes([b])); time.sleep(0.0005)
while True:
    try:
        tls.do_handshake(); send_bytewise(); break
    except ssl.SSLWantReadError:
        send_bytewise()
        chunk = sock.recv(65536)
        if not chunk: sys.exit("server closed during handshake")
        incoming.write(chunk)
tls.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); send_bytewise()
response = b""
while True:
    try:
        data = tls.read(65536)
        if not data: break  # close_notify: the response is complete
        response += data
    except ssl.SSLWantReadError:
        chunk = sock.recv(65536)
        if not chunk: break
        incoming.write(chunk); continue
    except ssl.SSLZeroReturnError:
        break
print(response.split(b"\r\n")[0].decode())
"""#

    /// N sequential full handshakes, each closed cleanly.
    static let sequentialHandshakes = #"""
import socket, ssl, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ok = 0
for i in range(count):
    with socket.create_connection((host, port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            ok += 1
print("ok", ok)
"""#

    /// A TLS client that sends a request head with `Content-Length: 5` and
    /// two body bytes, prints "mid-request", waits for a line on stdin, then
    /// sends the rest and prints the response.
    static let slowRequestAcrossSIGTERM = #"""
import socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
tls = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname="localhost")
tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nab")
print("mid-request", flush=True)
sys.stdin.readline()
tls.sendall(b"cde")
response = b""
while True:
    try:
        data = tls.recv(65536)
    except (ssl.SSLZeroReturnError, ConnectionResetError):
        break
    if not data: break
    response += data
print(response.split(b"\r\n\r\n")[0].decode())
"""#

    /// A TLS client whose ClientHello can be re-framed and re-segmented on
    /// the wire, for the stage-1 sniffer:
    ///   --records N     split the ClientHello handshake message across N
    ///                   TLS records of type 22 (RFC 8446 §5.1 allows it)
    ///   --segments N    send those bytes in N TCP writes (0: one byte each)
    ///   --pause S       seconds between writes
    ///   --sni NAME / --alpn a,b (omit for no ALPN extension)
    ///   --alpn-padding N  add N long dummy ALPN names (a big hello)
    ///   --proxy v1|v2 --proxy-source IP:PORT   a PROXY header first
    ///   --requests N --idle S   N HTTP/1.1 GETs on one connection, S seconds apart
    /// Prints `ALPN <proto>` and one `STATUS <line>` per response; exits 3
    /// with `CLOSED` when the server closes before the handshake completes.
    static let tlsClient = #"""
import argparse, socket, ssl, struct, sys, time
p = argparse.ArgumentParser()
p.add_argument("host"); p.add_argument("port", type=int)
p.add_argument("--sni"); p.add_argument("--alpn")
p.add_argument("--alpn-padding", type=int, default=0)
p.add_argument("--records", type=int, default=1); p.add_argument("--segments", type=int, default=1)
p.add_argument("--pause", type=float, default=0.0)
p.add_argument("--proxy"); p.add_argument("--proxy-source", default="203.0.113.7:5555")
p.add_argument("--requests", type=int, default=1); p.add_argument("--idle", type=float, default=0.0)
p.add_argument("--idle-first", action="store_true", help="also wait --idle before the first request")
a = p.parse_args()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
alpn = a.alpn.split(",") if a.alpn else []
alpn = ["x-padding-%03d-" % i + "p" * 200 for i in range(a.alpn_padding)] + alpn
if alpn: ctx.set_alpn_protocols(alpn)
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname=a.sni)
sock = socket.create_connection((a.host, a.port)); sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def closed():
    print("CLOSED"); sys.stdout.flush(); sys.exit(3)
def send(data):
    try: sock.sendall(data)
    except OSError: closed()
if a.proxy:
    src_ip, src_port = a.proxy_source.rsplit(":", 1)
    if a.proxy == "v1":
        send(("PROXY TCP4 %s 127.0.0.1 %s %d\r\n" % (src_ip, src_port, a.port)).encode())
    else:
        body = socket.inet_aton(src_ip) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", int(src_port), a.port)
        send(b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body)
def reframe(data):
    payload, version, i = b"", data[1:3], 0
    while i < len(data):
        length = struct.unpack("!H", data[i + 3:i + 5])[0]
        payload += data[i + 5:i + 5 + length]; i += 5 + length
    size = -(-len(payload) // a.records); out = b""
    for j in range(0, len(payload), size):
        part = payload[j:j + size]
        out += b"\x16" + version + struct.pack("!H", len(part)) + part
    return out
def send_segmented(data):
    count = len(data) if a.segments == 0 else a.segments
    size = -(-len(data) // count)
    for j in range(0, len(data), size):
        if j: time.sleep(a.pause)
        send(data[j:j + size])
def receive():
    try: chunk = sock.recv(65536)
    except ConnectionResetError: chunk = b""
    return chunk
first = True
while True:
    try:
        tls.do_handshake(); send(outgoing.read()); break
    except ssl.SSLWantReadError:
        data = outgoing.read()
        if first: send_segmented(reframe(data)); first = False
        else: send(data)
        chunk = receive()
        if not chunk: closed()
        incoming.write(chunk)
    except ssl.SSLError as error:
        print("TLS-ERROR", error); closed()
print("ALPN", tls.selected_alpn_protocol()); sys.stdout.flush()
def read_more():
    while True:
        try: return tls.read(65536)
        except ssl.SSLWantReadError:
            chunk = receive()
            if not chunk: return b""
            incoming.write(chunk)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError): return b""
buffer = b""
for n in range(a.requests):
    if n or a.idle_first: time.sleep(a.idle)
    tls.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); send(outgoing.read())
    while b"\r\n\r\n" not in buffer:
        more = read_more()
        if not more: closed()
        buffer += more
    head, buffer = buffer.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length": length = int(value)
    while len(buffer) < length:
        more = read_more()
        if not more: closed()
        buffer += more
    buffer = buffer[length:]
    print("STATUS", head.split(b"\r\n")[0].decode()); sys.stdout.flush()
"""#

    /// Sends a real ClientHello (from Python's ssl, SNI `--sni`, no ALPN),
    /// then, for passthrough to the plain upstreams of `rawUpstream`:
    ///   --mode read       read to EOF and print what came back
    ///   --mode halfclose  send `--payload`, shut down the write side, read to EOF
    ///   --mode reset      read; print RESET on a reset, EOF on a clean end
    ///   --mode stall      never read (until killed)
    ///   --proxy-v1-source IP:PORT   a PROXY v1 header before the hello
    static let helloThenRawClient = #"""
import argparse, socket, ssl, sys, time
p = argparse.ArgumentParser()
p.add_argument("host"); p.add_argument("port", type=int)
p.add_argument("--sni", default="backend.example.test"); p.add_argument("--mode", default="read")
p.add_argument("--payload", default="")
p.add_argument("--proxy-v1-source", help="IP:PORT to announce in a PROXY v1 header first")
a = p.parse_args()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname=a.sni)
try: tls.do_handshake()
except ssl.SSLWantReadError: pass
hello = outgoing.read()
sock = socket.create_connection((a.host, a.port))
print("LOCAL %s:%d" % sock.getsockname()[:2]); print("HELLO", len(hello)); sys.stdout.flush()
if a.proxy_v1_source:
    ip, port = a.proxy_v1_source.rsplit(":", 1)
    sock.sendall(("PROXY TCP4 %s 127.0.0.1 %s %d\r\n" % (ip, port, a.port)).encode())
sock.sendall(hello + a.payload.encode())
if a.mode == "stall":
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    time.sleep(120); sys.exit(0)
if a.mode == "halfclose":
    # No pause: EOF may reach Porthole before its upstream connection is up.
    sock.shutdown(socket.SHUT_WR)
received = b""
try:
    while True:
        chunk = sock.recv(65536)
        if not chunk: break
        received += chunk
except ConnectionResetError:
    print("RESET"); sys.exit(0)
print("EOF"); print("RECEIVED", received.decode(errors="replace"))
"""#

    /// A plain TCP upstream on 127.0.0.1 (prints `PORT <n>` first) serving
    /// one connection:
    ///   proxy-echo  parse a PROXY v2 header, answer `SOURCE ip:port`
    ///   count       read to EOF (the client's half-close), answer `COUNT <bytes>`
    ///   reset       read once, then reset (SO_LINGER 0)
    ///   flood       write zeros until 200 MB are sent; prints `SENT <bytes>`
    ///   banner      speak first: send `BANNER` and close
    static let rawUpstream = #"""
import socket, struct, sys
mode = sys.argv[1]
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
print("PORT", server.getsockname()[1]); sys.stdout.flush()
conn, _ = server.accept()
def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk: sys.exit("EOF in PROXY header")
        data += chunk
    return data
def read_to_eof():
    total = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk: return total
        total += len(chunk)
if mode == "proxy-echo":
    head = read_exact(16)
    if head[:12] != b"\r\n\r\n\x00\r\nQUIT\n": sys.exit("no PROXY v2 signature")
    body = read_exact(struct.unpack("!H", head[14:16])[0])
    if head[13] != 0x11: sys.exit("not TCP over IPv4")
    src = socket.inet_ntoa(body[0:4]); port = struct.unpack("!H", body[8:10])[0]
    conn.sendall(("SOURCE %s:%d\n" % (src, port)).encode())
    # Closing with the ClientHello unread would send a reset: half-close,
    # then wait for the client to finish.
    conn.shutdown(socket.SHUT_WR); read_to_eof(); conn.close()
elif mode == "count":
    total = read_to_eof()
    conn.sendall(("COUNT %d\n" % total).encode()); conn.close()
elif mode == "reset":
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); conn.close()
elif mode == "flood":
    chunk = b"\0" * 65536; sent = 0
    while sent < 200 << 20:
        conn.sendall(chunk); sent += len(chunk)
        if sent % (1 << 20) == 0: print("SENT", sent); sys.stdout.flush()
    print("DONE", sent); sys.stdout.flush()
elif mode == "banner":
    conn.sendall(b"BANNER\n"); conn.close()
"""#

    /// Sends the bytes given in hex (none for a silent client), then reads
    /// until the server ends the connection: prints `EOF <text received>`
    /// or `RESET`.
    static let bytesClient = #"""
import socket, sys
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
if len(sys.argv) > 3 and sys.argv[3]: sock.sendall(bytes.fromhex(sys.argv[3]))
received = b""
try:
    while True:
        chunk = sock.recv(65536)
        if not chunk: break
        received += chunk
except ConnectionResetError:
    print("RESET"); sys.exit(0)
print("EOF", received.decode(errors="replace"))
"""#
}
