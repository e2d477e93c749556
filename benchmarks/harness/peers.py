#!/usr/bin/env python3
"""Load clients and the raw TCP backend used by bench.py (Python stdlib only).

Each sub-command runs as its own process, pinned to the load CPU by bench.py,
and prints one JSON object on stdout:

  backend  --sink-port P            raw TCP sink/echo behind the passthrough routes
  stream   --port P --sni S --bytes N      MB/s of one N-byte upload through P
  echo     --port P --sni S --count K      round-trip times of 64-byte messages
  ttfb     --port P --sni S --path /x --count K   connect..first response byte (full TLS)
  idle     --port P --count N --path /x   hold N TLS keep-alive connections open

Passthrough clients send a real ClientHello (made by Python's ssl module, with
the SNI that picks the route) and then raw bytes: every front only reads the
hello and splices the rest, so the backend can be a plain TCP sink instead of a
TLS server that could not keep up with a 1 GB stream. The backend skips the
hello record, then reads a mode byte: 'S' + 8-byte length (sink, answers 'K'
when all bytes arrived) or 'E' (echo 64-byte messages until EOF).
"""
import argparse
import asyncio
import json
import socket
import ssl
import statistics
import struct
import sys
import threading
import time

ECHO_SIZE = 64


def client_hello(sni):
    """The bytes of a real TLS ClientHello carrying `sni`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def read_exact(sock, count):
    buffer = bytearray(count)
    view = memoryview(buffer)
    got = 0
    while got < count:
        n = sock.recv_into(view[got:], count - got)
        if n == 0:
            raise ConnectionError(f"peer closed after {got} of {count} bytes")
        got += n
    return bytes(buffer)


# ---------------------------------------------------------------- backend

def serve_connection(conn):
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        header = read_exact(conn, 5)
        read_exact(conn, struct.unpack("!H", header[3:5])[0])  # the ClientHello record
        mode = read_exact(conn, 1)
        conn.sendall(b"R")
        if mode == b"S":
            remaining = struct.unpack("!Q", read_exact(conn, 8))[0]
            buffer = bytearray(1 << 20)
            view = memoryview(buffer)
            while remaining > 0:
                n = conn.recv_into(view, min(len(buffer), remaining))
                if n == 0:
                    return
                remaining -= n
            conn.sendall(b"K")
        elif mode == b"E":
            while True:
                message = conn.recv(ECHO_SIZE)
                if not message:
                    return
                conn.sendall(message)
    except (ConnectionError, OSError):
        pass
    finally:
        conn.close()


def run_backend(args):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.sink_port))
    listener.listen(1024)
    print(json.dumps({"listening": args.sink_port}), flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(conn,), daemon=True).start()


# ---------------------------------------------------------------- clients

def connect_passthrough(port, sni, mode, timeout):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(client_hello(sni) + mode[:1])
    if read_exact(sock, 1) != b"R":
        raise ConnectionError("the backend did not answer the hello")
    sock.sendall(mode[1:])
    return sock


def run_stream(args):
    chunk = b"\xa5" * (1 << 20)
    started = time.perf_counter()
    sock = connect_passthrough(args.port, args.sni, b"S" + struct.pack("!Q", args.bytes), timeout=60)
    remaining = args.bytes
    while remaining > 0:
        piece = chunk if remaining >= len(chunk) else chunk[:remaining]
        sock.sendall(piece)
        remaining -= len(piece)
    ok = read_exact(sock, 1) == b"K"
    elapsed = time.perf_counter() - started
    sock.close()
    return {"ok": ok, "bytes": args.bytes, "seconds": elapsed, "mb_per_s": args.bytes / elapsed / 1e6}


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def latency_summary(samples):
    micros = [s * 1e6 for s in samples]
    return {"count": len(micros), "p50_us": percentile(micros, 0.50), "p99_us": percentile(micros, 0.99),
            "mean_us": statistics.fmean(micros)}


def run_echo(args):
    sock = connect_passthrough(args.port, args.sni, b"E", timeout=10)
    message = b"e" * ECHO_SIZE
    samples = []
    for index in range(args.count + args.warmup):
        started = time.perf_counter()
        sock.sendall(message)
        read_exact(sock, ECHO_SIZE)
        if index >= args.warmup:
            samples.append(time.perf_counter() - started)
    sock.close()
    return latency_summary(samples)


def tls_client_context(alpn):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    if alpn:
        context.set_alpn_protocols([alpn])
    return context


def run_ttfb(args):
    context = tls_client_context("http/1.1")
    request = f"GET {args.path} HTTP/1.1\r\nHost: {args.sni}\r\nConnection: close\r\n\r\n".encode()
    samples, versions, failures = [], set(), 0
    for index in range(args.count + args.warmup):
        started = time.perf_counter()
        try:
            raw = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with context.wrap_socket(raw, server_hostname=args.sni) as tls:
                tls.sendall(request)
                first = tls.recv(1)
                elapsed = time.perf_counter() - started
                versions.add(tls.version())
                if not first:
                    failures += 1
                    continue
        except (OSError, ssl.SSLError):
            failures += 1
            continue
        if index >= args.warmup:
            samples.append(elapsed)
    result = latency_summary(samples) if samples else {"count": 0}
    result.update({"failures": failures, "tls_versions": sorted(v for v in versions if v)})
    return result


async def hold_one(context, args, index, gate, counts, stop):
    source = f"127.0.0.{2 + index % args.sources}"
    try:
        async with gate:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", args.port, ssl=context, server_hostname="bench.local", local_addr=(source, 0)), 30)
            writer.write(f"GET {args.path} HTTP/1.1\r\nHost: bench.local\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            await asyncio.wait_for(reader.readexactly(length), 30)
    except (OSError, ssl.SSLError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
        counts["errors"] += 1
        counts.setdefault("first_error", repr(error))
        return
    counts["ready"] += 1
    await stop.wait()
    writer.close()


async def hold_idle(args):
    """Open N keep-alive TLS connections (one request each), report, hold until stdin closes."""
    context = tls_client_context("http/1.1")
    gate, stop = asyncio.Semaphore(64), asyncio.Event()
    counts = {"ready": 0, "errors": 0}
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(hold_one(context, args, i, gate, counts, stop)) for i in range(args.count)]
    while counts["ready"] + counts["errors"] < args.count:
        await asyncio.sleep(0.05)
    counts["seconds_to_open"] = time.perf_counter() - started
    print(json.dumps(counts), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("backend")
    p.add_argument("--sink-port", type=int, required=True)
    for name in ("stream", "echo", "ttfb", "idle"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--sni", default="bench.local")
        p.add_argument("--bytes", type=int, default=1 << 30)
        p.add_argument("--count", type=int, default=1000)
        p.add_argument("--warmup", type=int, default=20)
        p.add_argument("--path", default="/porthole/status")
        p.add_argument("--sources", type=int, default=4, help="127.0.0.x source addresses to spread over")
    args = parser.parse_args()
    if args.command == "backend":
        run_backend(args)
    elif args.command == "idle":
        asyncio.run(hold_idle(args))
    else:
        result = {"stream": run_stream, "echo": run_echo, "ttfb": run_ttfb}[args.command](args)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
