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
}
