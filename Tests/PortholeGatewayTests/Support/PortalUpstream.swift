import Foundation
import PortholeTestSupport

/// A real HTTP/1.1 portal upstream for the portal tests: Python's
/// `http.server` (stdlib only) on 127.0.0.1:0, started by the test and
/// stopped by pid. Endpoints:
/// - `/echo`: JSON with the method, path, headers, body length and SHA-256
/// - `/download?size=N`: N bytes (pattern `i % 251`), streamed in 64 KiB writes
/// - `/delay?ms=N`: answers after N ms
/// - `/bigheaders?bytes=N`: a response header of N bytes
/// - `/ws`: a WebSocket echo server (RFC 6455, text and binary frames)
final class PortalUpstream: @unchecked Sendable {
    let process: ChildProcess
    let port: Int

    /// Listens on 127.0.0.1:0, or on `unixSocket` when given (then `port` is 0).
    init(unixSocket: String? = nil) throws {
        let directory = TemporaryDirectory("porthole-upstream")
        let path = directory.write("upstream.py", Self.script)
        process = try ChildProcess("python3", ["-u", path] + (unixSocket.map { [$0] } ?? []))
        guard process.waitForOutput(containing: "\n", timeout: 20),
              let line = process.stdout.split(separator: "\n").first, let port = Int(line.trimmingCharacters(in: .whitespaces)) else {
            process.stop()
            throw TestSupportError("upstream did not start: \(process.stderr)")
        }
        self.port = port
    }

    func stop() { process.stop() }

    static let script = #"""
import base64, hashlib, json, os, signal, socket, struct, sys, time
# The test stops us with SIGTERM, which a spawned child may inherit ignored
# or blocked.
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass

    def read_body(self):
        digest, total = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""): pass
                    break
                left = size
                while left:
                    chunk = self.rfile.read(min(left, 65536)); digest.update(chunk); total += len(chunk); left -= len(chunk)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk: break
                digest.update(chunk); total += len(chunk); left -= len(chunk)
        return total, digest.hexdigest()

    def send_json(self, value, status=200, extra=()):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, val in extra: self.send_header(name, val)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        url = urlparse(self.path); query = parse_qs(url.query)
        if url.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        total, digest = self.read_body()
        if url.path == "/download":
            size = int(query["size"][0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            pattern = bytes(i % 251 for i in range(251)) * 260
            sent = 0
            while sent < size:
                piece = pattern[: min(len(pattern), size - sent)]
                self.wfile.write(piece); sent += len(piece)
            return
        if url.path == "/delay":
            time.sleep(int(query["ms"][0]) / 1000)
        extra = []
        if url.path == "/bigheaders":
            extra.append(("X-Big", "b" * int(query["bytes"][0])))
        self.send_json({"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                        "body_length": total, "body_sha256": digest}, extra=extra)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any
    def do_HEAD(self):
        self.send_response(200); self.send_header("Content-Length", "5"); self.end_headers()

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket"); self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept); self.end_headers(); self.wfile.flush()
        rfile, sock = self.rfile, self.connection
        while True:
            head = rfile.read(2)
            if len(head) < 2: break
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126: length = struct.unpack("!H", rfile.read(2))[0]
            elif length == 127: length = struct.unpack("!Q", rfile.read(8))[0]
            mask = rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(rfile.read(length)))
            if opcode == 8:
                sock.sendall(b"\x88\x00"); break
            if opcode in (1, 2):
                header = bytes([0x80 | opcode])
                if len(payload) < 126: header += bytes([len(payload)])
                elif len(payload) < 65536: header += bytes([126]) + struct.pack("!H", len(payload))
                else: header += bytes([127]) + struct.pack("!Q", len(payload))
                sock.sendall(header + payload)
        self.close_connection = True

if len(sys.argv) > 1:
    import socketserver
    class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True
    server = UnixServer(sys.argv[1], Handler)
    print(0, flush=True)
else:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
server.serve_forever()
"""#
}
