#!/usr/bin/env python3
"""Porthole benchmark harness: Porthole side by side with nginx and HAProxy.

Started by benchmarks/run.sh (which builds Porthole and pins this script to the
load CPU). Runs every scenario `reps` times, interleaving the fronts within each
repetition so that slow drifts of a shared machine hit all three alike, and
writes report.md, results.json and PNG charts into the output folder.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = os.path.join(os.path.dirname(HERE), "config")
PEERS = os.path.join(HERE, "peers.py")
SERVER_CPU, LOAD_CPU = "0", "1"
FRONTS = ["porthole", "nginx", "haproxy"]
TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                 "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

MODES = {
    # seconds per load run, repetitions, bytes streamed, samples, idle connection counts
    # settle: seconds idle agents are left before their memory is read (the
    # gateway gives the connection storm's heap back every 30 s)
    "smoke": dict(reps=1, duration=1, fronts=["porthole"], stream_bytes=32 << 20, echo=200, ttfb=20,
                  idle=[50], connections=8, agents=[50], calls=50, settle=0),
    "quick": dict(reps=3, duration=2, fronts=FRONTS, stream_bytes=256 << 20, echo=500, ttfb=40,
                  idle=[300, 1000], connections=32, agents=[500, 2000], calls=300, settle=0),
    "full": dict(reps=3, duration=8, fronts=FRONTS, stream_bytes=1 << 30, echo=5000, ttfb=200,
                 idle=[1000, 10000], connections=64, agents=[1000, 10000, 19000], calls=2000, settle=35),
}


# ------------------------------------------------------------------ helpers

class Progress:
    def __init__(self, total):
        self.total, self.done, self.started = total, 0, time.time()
        self.tty = sys.stderr.isatty()

    def step(self, text):
        self.done += 1
        elapsed = time.time() - self.started
        line = f"[{self.done}/{self.total}] {elapsed:5.0f}s  {text}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self):
        if self.tty:
            sys.stderr.write("\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20, process=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def process_tree(pid):
    pids, children = [pid], {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    index = 0
    while index < len(pids):
        pids.extend(children.get(pids[index], []))
        index += 1
    return pids


def cpu_seconds(pid):
    """User + system CPU of a process and its children (nginx: master + worker)."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / CLOCK_TICKS


def memory_kib(pid):
    """Proportional set size (shared pages split between nginx's master and worker)."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def run(cmd, cpu=LOAD_CPU, timeout=600, stdin=None, check=True):
    full = ["taskset", "-c", cpu] + cmd
    result = subprocess.run(full, capture_output=True, text=True, timeout=timeout, stdin=stdin)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.strip()[-400:]}")
    return result


def peer(*args, timeout=600):
    out = run([sys.executable, PEERS] + [str(a) for a in args], timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])


def fill(template_name, values, out_path):
    with open(os.path.join(CONFIG_DIR, template_name)) as f:
        # Only ${UPPER_CASE} is a placeholder: nginx's own $variables stay as they are.
        text = re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}", lambda m: str(values[m.group(1)]), f.read())
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


def https_get(port, path, sni="bench.local"):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=sni) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


class Server:
    """One server process pinned to a CPU, stopped by its pid."""

    def __init__(self, name, cmd, ports, log_path, cpu=SERVER_CPU):
        self.name, self.ports = name, ports
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(["taskset", "-c", cpu] + [str(c) for c in cmd], stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        try:
            for port in ports:
                wait_port(port, process=self.process)
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"{name} did not start ({error}); see {log_path}")

    @property
    def pid(self):
        return self.process.pid

    def exit_description(self):
        """None while running; otherwise how the process ended ("killed by SIGSEGV", "exited with 1")."""
        code = self.process.poll()
        if code is None:
            return None
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with {code}"

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# ------------------------------------------------------------------ the harness

class Harness:
    def __init__(self, args):
        self.args = args
        self.mode = MODES[args.mode]
        self.fronts = self.mode["fronts"]
        self.out = args.out
        self.run_dir = os.path.join(self.out, "run")
        self.docroot = os.path.join(self.run_dir, "docroot")
        for d in (self.run_dir, self.docroot, os.path.join(self.run_dir, "porthole-state"),
                  os.path.join(self.run_dir, "nginx-front-tmp"), os.path.join(self.run_dir, "nginx-upstream-tmp")):
            os.makedirs(d, exist_ok=True)
        self.results = {"scenarios": {}, "direct": {}, "notes": [], "unavailable": {}}
        self.ports = {k: free_port() for k in ("TLS_PORT", "PASS_PORT", "ADMIN_PORT", "UPSTREAM_PORT",
                                                "BACKEND_TLS_PORT", "SINK_PORT")}
        self.status_page_ready = False
        self.porthole_proxy_available = None
        self.certs = {kind: self.make_certificate(kind) for kind in ("ecdsa", "rsa")}

    # ---- set-up

    def make_certificate(self, kind):
        base = os.path.join(self.run_dir, f"cert-{kind}")
        key_args = (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ecdsa"
                    else ["-newkey", "rsa:2048"])
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "365", "-subj", "/CN=bench.local",
                        "-addext", "subjectAltName=DNS:bench.local,DNS:sink.bench,DNS:tls.bench",
                        "-keyout", base + ".key", "-out", base + ".pem"] + key_args,
                       check=True, capture_output=True)
        with open(base + ".both.pem", "w") as both:
            both.write(open(base + ".pem").read() + open(base + ".key").read())
        return {"CERT": base + ".pem", "KEY": base + ".key", "CERT_AND_KEY": base + ".both.pem"}

    def template_values(self, cert):
        values = dict(self.ports)
        values.update(self.certs[cert])
        values.update(RUN_DIR=self.run_dir, DOCROOT=self.docroot, TLS12_CIPHERS=TLS12_CIPHERS,
                      TLS13_SUITES=TLS13_SUITES,
                      PORTAL_UPSTREAM=f"http://127.0.0.1:{self.ports['UPSTREAM_PORT']}")
        return values

    def start_backends(self):
        with open(os.path.join(self.docroot, "small.txt"), "w") as f:
            f.write("porthole benchmark upstream: a small static file\n" * 2)
        with open(os.path.join(self.docroot, "status.html"), "w") as f:
            f.write("placeholder until Porthole's status page is captured\n")
        self.backends = []
        cfg = fill("nginx-upstream.conf", self.template_values("ecdsa"), os.path.join(self.run_dir, "nginx-upstream.conf"))
        if shutil.which("nginx"):
            self.backends.append(Server("upstream nginx", ["nginx", "-c", cfg, "-e", os.path.join(self.run_dir, "nginx-upstream.error.log")],
                                        [self.ports["UPSTREAM_PORT"], self.ports["BACKEND_TLS_PORT"]],
                                        os.path.join(self.run_dir, "nginx-upstream.log"), cpu=LOAD_CPU))
        else:
            self.note("nginx is not installed: no upstream, so the portal-proxy and TLS passthrough scenarios are skipped")
        self.backends.append(Server("sink", [sys.executable, PEERS, "backend", "--sink-port", self.ports["SINK_PORT"]],
                                    [self.ports["SINK_PORT"]], os.path.join(self.run_dir, "sink.log"), cpu=LOAD_CPU))
        return self.backends

    def start_front(self, front, cert):
        values = self.template_values(cert)
        log = os.path.join(self.run_dir, f"{front}-{cert}.log")
        if front == "porthole":
            cfg = fill("porthole-front.toml", values, os.path.join(self.run_dir, f"porthole-{cert}.toml"))
            return Server("porthole", [self.args.porthole, "run", "--config", cfg] + self.porthole_thread_flags(),
                          [self.ports["TLS_PORT"]], log)
        if front == "nginx":
            cfg = fill("nginx-front.conf", values, os.path.join(self.run_dir, f"nginx-front-{cert}.conf"))
            return Server("nginx", ["nginx", "-c", cfg, "-e", os.path.join(self.run_dir, "nginx-front.error.log")],
                          [self.ports["TLS_PORT"], self.ports["PASS_PORT"]], log)
        cfg = fill("haproxy-front.cfg", values, os.path.join(self.run_dir, f"haproxy-front-{cert}.cfg"))
        return Server("haproxy", ["haproxy", "-f", cfg, "-db"], [self.ports["TLS_PORT"], self.ports["PASS_PORT"]], log)

    def porthole_thread_flags(self):
        """One event-loop thread, like one nginx worker and one HAProxy thread (when the build has --threads)."""
        if not hasattr(self, "_thread_flags"):
            text = subprocess.run([self.args.porthole, "run", "--help"], capture_output=True, text=True).stdout
            self._thread_flags = ["--threads", "1"] if "--threads" in text else []
            if not self._thread_flags:
                self.note("this Porthole build has no --threads: it ran one event loop per core, all pinned to CPU 0")
        return self._thread_flags

    def passthrough_port(self, front):
        return self.ports["TLS_PORT"] if front == "porthole" else self.ports["PASS_PORT"]

    # ---- recording

    def note(self, text):
        if text not in self.results["notes"]:
            self.results["notes"].append(text)

    def record(self, key, title, unit, better, front, value, raw=None, group=""):
        entry = self.results["scenarios"].setdefault(key, {"title": title, "unit": unit, "better": better,
                                                          "group": group, "runs": {}, "raw": {}})
        entry["runs"].setdefault(front, []).append(value)
        entry["raw"].setdefault(front, []).append(raw)

    def unavailable(self, key, title, why, group=""):
        self.results["unavailable"][key] = {"title": title, "why": why, "group": group}

    def measure_load(self, server, cmd):
        """Run a load command on the load CPU; also the server's CPU time while it ran."""
        cpu_before, started = cpu_seconds(server.pid), time.time()
        result = run(cmd, check=False, timeout=self.mode["duration"] * 10 + 120)
        return result, cpu_seconds(server.pid) - cpu_before, time.time() - started

    # ---- scenario 1 and 2: wrk, h2load, s_time

    def wrk(self, server, path, connections, close):
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{self.mode['duration']}s", "--latency"]
        if close:
            cmd += ["-H", "Connection: close"]
        result, cpu, _ = self.measure_load(server, cmd + [f"https://127.0.0.1:{self.ports['TLS_PORT']}{path}"])
        text = result.stdout
        rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
        total = re.search(r"(\d+) requests in", text)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        if result.returncode != 0 or not rate:
            raise RuntimeError(f"wrk failed: {result.stderr.strip()[-300:] or text[-300:]}")
        requests = int(total.group(1)) if total else 0
        raw = {"tool": "wrk", "rate": float(rate.group(1)), "requests": requests, "server_cpu_s": cpu,
               "non_2xx": int(non2xx.group(1)) if non2xx else 0,
               "socket_errors": [int(x) for x in errors.groups()] if errors else [0, 0, 0, 0]}
        if raw["non_2xx"] > requests // 100:
            raise RuntimeError(f"{raw['non_2xx']} of {requests} responses were not 2xx/3xx")
        return raw

    def h2load(self, server, path, connections):
        cmd = ["h2load", "-t1", f"-c{connections}", "-m10", f"-D{self.mode['duration']}",
               f"https://127.0.0.1:{self.ports['TLS_PORT']}{path}"]
        result, cpu, _ = self.measure_load(server, cmd)
        text = result.stdout
        rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
        done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
        if not rate or not done:
            raise RuntimeError(f"h2load failed: {text[-300:]} {result.stderr[-300:]}")
        succeeded, failed, errored = (int(x) for x in done.groups())
        protocol = re.search(r"Application protocol: (\S+)", text)
        if not protocol or protocol.group(1) != "h2":
            raise RuntimeError(f"h2load did not negotiate h2 ({protocol.group(1) if protocol else 'no ALPN'})")
        if succeeded == 0 or failed + errored > succeeded // 100:
            raise RuntimeError(f"h2load: {succeeded} succeeded, {failed} failed, {errored} errored")
        return {"tool": "h2load", "rate": float(rate.group(1)), "requests": succeeded, "failed": failed,
                "errored": errored, "server_cpu_s": cpu}

    def s_time(self, server, path):
        cmd = ["openssl", "s_time", "-connect", f"127.0.0.1:{self.ports['TLS_PORT']}", "-www", path,
               "-reuse", "-time", str(self.mode["duration"])]
        result, cpu, elapsed = self.measure_load(server, cmd)
        counts = re.findall(r"(\d+) connections in [\d.]+s", result.stdout)
        if result.returncode != 0 or not counts:
            raise RuntimeError(f"openssl s_time failed: {result.stdout[-300:]} {result.stderr[-300:]}")
        connections = int(counts[-1])
        return {"tool": "openssl s_time -reuse", "rate": connections / elapsed, "requests": connections,
                "server_cpu_s": cpu, "elapsed_s": elapsed}

    def record_rate(self, key, title, unit, front, raw, group):
        self.record(key, title, unit, "higher", front, raw["rate"], raw, group)
        if raw["requests"]:
            self.record(key + ".cpu", title + " — server CPU per " + unit.split("/")[0].rstrip("s"),
                        "µs", "lower", front, raw["server_cpu_s"] / raw["requests"] * 1e6, None, group)

    def scenario_handshakes(self, server, front, cert):
        c = self.mode["connections"]
        raw = self.wrk(server, "/porthole/status", c, close=True)
        self.record_rate(f"s1.tls-new-{cert}", f"New TLS 1.3 connections/s, {cert.upper()} (full handshake + 1 request)",
                         "connections/s", front, raw, "1 handshakes")
        if cert == "ecdsa":
            raw = self.s_time(server, "/porthole/status")
            self.record_rate("s1.tls-resume-ecdsa", "Resumed TLS 1.3 connections/s, ECDSA (s_time -reuse, 1 at a time)",
                             "connections/s", front, raw, "1 handshakes")

    def scenario_keepalive(self, server, front):
        c = self.mode["connections"]
        targets = [("status", "/porthole/status", "built-in status page")]
        if front != "porthole" or self.porthole_proxy_available:
            targets.append(("upstream", "/small.txt", "proxied to the upstream"))
        for name, path, what in targets:
            raw = self.wrk(server, path, c, close=False)
            self.record_rate(f"s2.h1-{name}", f"Keep-alive HTTP/1.1 requests/s, {what} (wrk -c{c})",
                             "requests/s", front, raw, "2 keep-alive")
            raw = self.h2load(server, path, c)
            self.record_rate(f"s2.h2-{name}", f"Keep-alive HTTP/2 requests/s, {what} (h2load -c{c} -m10)",
                             "requests/s", front, raw, "2 keep-alive")

    # ---- scenario 3: idle connections (TLS keep-alive for all fronts; agents for Porthole)

    def scenario_idle(self, server, front):
        for n in self.mode["idle"]:
            base_mem, base_cpu = memory_kib(server.pid), cpu_seconds(server.pid)
            holder = subprocess.Popen(["taskset", "-c", LOAD_CPU, sys.executable, PEERS, "idle", "--port",
                                       str(self.ports["TLS_PORT"]), "--count", str(n)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = holder.stdout.readline()
                if not line:
                    raise RuntimeError(f"idle client failed: {holder.stderr.read()[-300:]}")
                opened = json.loads(line)
                # Settle at the largest N only: it keeps a full run under 30 minutes.
                settle = self.mode["settle"] if n == max(self.mode["idle"]) else 0
                time.sleep(0.5 + settle)
                cpu0, t0 = cpu_seconds(server.pid), time.time()
                time.sleep(1.5)
                idle_cpu = (cpu_seconds(server.pid) - cpu0) / (time.time() - t0) * 100
                mem = memory_kib(server.pid)
            finally:
                holder.stdin.close()
                try:
                    holder.wait(30)
                except subprocess.TimeoutExpired:
                    holder.kill()
                    holder.wait()
            if opened["ready"] < n * 0.99:
                raise RuntimeError(f"only {opened['ready']} of {n} idle connections opened "
                                   f"({opened.get('first_error')})")
            per = (mem - base_mem) / max(1, opened["ready"])
            raw = {"n": n, "opened": opened, "memory_kib_before": base_mem, "memory_kib_after": mem,
                   "idle_cpu_percent": idle_cpu, "setup_cpu_s": cpu0 - base_cpu}
            settled = f", {settle} s after opening" if settle > 5 else ""
            self.record(f"s3.idle-tls-{n}", f"Idle TLS keep-alive connections: memory per connection at N={n}{settled}",
                        "KiB", "lower", front, per, raw, "3 idle")
            self.record(f"s3.idle-tls-{n}.cpu", f"Idle TLS keep-alive connections: idle CPU at N={n}",
                        "% of a core", "lower", front, idle_cpu, None, "3 idle")

    def agent_interface(self):
        """Why `porthole agent` cannot be used for scenarios 3 and 4, or None when it can."""
        result = subprocess.run([self.args.porthole, "agent", "--help"], capture_output=True, text=True)
        text = result.stdout + result.stderr
        if result.returncode != 0:
            return "`porthole agent` is not available in this build"
        missing = [flag for flag in ("--count", "--server", "--server-thumbprint", "--cert", "--key") if flag not in text]
        return f"`porthole agent` lacks {', '.join(missing)} in this build" if missing else None

    def thumbprint(self, pem):
        out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", pem],
                             capture_output=True, text=True, check=True).stdout
        return out.split("=", 1)[1].strip().replace(":", "").upper()

    def admin_json(self, method, path, body=None, timeout=30):
        import http.client
        connection = http.client.HTTPConnection("127.0.0.1", self.ports["ADMIN_PORT"], timeout=timeout)
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def connected_agents(self):
        status, body = self.admin_json("GET", "/v1/agents")
        return len(body.get("agents", [])) if status == 200 and isinstance(body, dict) else 0

    def scenario_agents(self):
        """Scenarios 3 and 4, Porthole only: N idle polling agents, then calls through the dispatch API."""
        title3, title4 = "Idle polling agents", "Polling calls through the dispatch API"
        why = self.agent_interface()
        if why:
            self.unavailable("s3.agents", title3 + ": memory per agent, idle CPU", why, "3 idle")
            self.unavailable("s4.dispatch", title4 + ": calls/s, p50/p99", why, "4 calls")
            return False
        agent = os.path.join(self.run_dir, "agent")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "365", "-subj", "/CN=bench-agent", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", agent + ".key", "-out", agent + ".pem"],
                       check=True, capture_output=True)
        values = self.template_values("ecdsa")
        values["AGENT_THUMBPRINT"] = self.thumbprint(agent + ".pem")
        cfg = fill("porthole-polling.toml", values, os.path.join(self.run_dir, "porthole-polling.toml"))
        server_thumbprint = self.thumbprint(self.certs["ecdsa"]["CERT"])
        for n in self.mode["agents"]:
            server = Server("porthole", [self.args.porthole, "run", "--config", cfg] + self.porthole_thread_flags(),
                            [self.ports["TLS_PORT"], self.ports["ADMIN_PORT"]], os.path.join(self.run_dir, "porthole-polling.log"))
            agents = []
            try:
                base_mem = memory_kib(server.pid)
                started = time.time()
                # One agent process per 9,000 agents: each holds one descriptor per agent.
                for chunk in [min(9000, n - i) for i in range(0, n, 9000)]:
                    agents.append(subprocess.Popen(
                        ["taskset", "-c", LOAD_CPU, self.args.porthole, "agent", "--server", f"127.0.0.1:{self.ports['TLS_PORT']}",
                         "--count", str(chunk), "--cert", agent + ".pem", "--key", agent + ".key",
                         "--server-thumbprint", server_thumbprint, "--log-level", "error"],
                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.run_dir, "agents.log"), "ab"),
                        stdin=subprocess.DEVNULL))
                deadline = time.time() + 30 + n / 100
                connected = 0
                while time.time() < deadline:
                    connected = self.connected_agents()
                    if connected >= n * 0.99:
                        break
                    time.sleep(1)
                if connected < n * 0.99:
                    raise RuntimeError(f"only {connected} of {n} agents connected within {deadline - started:.0f} s")
                seconds_to_connect = time.time() - started
                memory_after_storm = memory_kib(server.pid)
                # The last 1 % may still be backing off and reconnecting:
                # give them until the count stops moving, so that the idle
                # CPU below is idle.
                stable_since, last = time.time(), connected
                while time.time() - stable_since < 3 and time.time() < deadline + 20:
                    time.sleep(1)
                    now = self.connected_agents()
                    if now != last:
                        stable_since, last = time.time(), now
                connected = last
                time.sleep(self.mode["settle"])
                cpu0, t0 = cpu_seconds(server.pid), time.time()
                time.sleep(3)
                idle_cpu = (cpu_seconds(server.pid) - cpu0) / (time.time() - t0) * 100
                mem = memory_kib(server.pid)
                raw = {"n": n, "connected": connected, "memory_kib_before": base_mem, "memory_kib_after": mem,
                       "memory_kib_right_after_connecting": memory_after_storm, "settle_s": self.mode["settle"],
                       "idle_cpu_percent": idle_cpu, "seconds_to_connect": seconds_to_connect}
                settled = f", {self.mode['settle']} s after connecting" if self.mode["settle"] > 5 else ""
                self.record(f"s3.agents-{n}", f"Idle polling agents: memory per agent at N={n}{settled}", "KiB", "lower",
                            "porthole", (mem - base_mem) / connected, raw, "3 idle")
                self.record(f"s3.agents-storm-{n}", f"Idle polling agents: memory per agent at N={n}, right after connecting",
                            "KiB", "lower", "porthole", (memory_after_storm - base_mem) / connected, None, "3 idle")
                self.record(f"s3.agents-{n}.cpu", f"Idle polling agents: idle CPU at N={n}", "% of a core", "lower",
                            "porthole", idle_cpu, None, "3 idle")
                if n == self.mode["agents"][0]:
                    self.dispatch_calls(min(n, 50))
            finally:
                for process in agents:
                    process.terminate()
                for process in agents:
                    try:
                        process.wait(15)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                server.stop()
        return True

    def dispatch_calls(self, subscriptions):
        """Scenario 4: calls/s and latency of IEchoService.SayHello through POST /v1/agents/{sub}/calls."""
        import concurrent.futures
        total, callers = self.mode["calls"], 8
        body = {"service": "IEchoService", "method": "SayHello", "params": ["bench"], "timeout": "30s"}

        def one(index):
            started = time.perf_counter()
            status, answer = self.admin_json("POST", f"/v1/agents/agent-{1 + index % subscriptions}/calls", body)
            ok = status == 200 and isinstance(answer, dict) and answer.get("error") in (None, {}) and answer.get("result")
            return time.perf_counter() - started, bool(ok)

        for rep in range(self.mode["reps"]):
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(callers) as pool:
                outcomes = list(pool.map(one, range(total)))
            elapsed = time.perf_counter() - started
            failed = sum(1 for _, ok in outcomes if not ok)
            if failed > total // 100:
                raise RuntimeError(f"{failed} of {total} dispatch calls failed")
            micros = sorted(t * 1e6 for t, ok in outcomes if ok)
            raw = {"calls": total, "failed": failed, "callers": callers, "subscriptions": subscriptions, "seconds": elapsed,
                   "p50_us": micros[len(micros) // 2], "p99_us": micros[int(len(micros) * 0.99) - 1]}
            group = "4 calls"
            self.record("s4.dispatch-rate", f"Polling calls/s through the dispatch API ({callers} callers, "
                        f"{subscriptions} agents, IEchoService.SayHello)", "calls/s", "higher", "porthole",
                        total / elapsed, raw, group)
            self.record("s4.dispatch-p50", "Polling call latency p50 (dispatch API → agent → answer)", "µs", "lower",
                        "porthole", raw["p50_us"], None, group)
            self.record("s4.dispatch-p99", "Polling call latency p99 (dispatch API → agent → answer)", "µs", "lower",
                        "porthole", raw["p99_us"], None, group)

    # ---- scenario 5 and 6: passthrough and time to first byte

    def scenario_direct(self):
        """Baselines without any front, once per repetition."""
        direct = self.results["direct"]
        raw = peer("stream", "--port", self.ports["SINK_PORT"], "--sni", "sink.bench", "--bytes", self.mode["stream_bytes"])
        direct.setdefault("stream_mb_per_s", []).append(raw["mb_per_s"])
        raw = peer("echo", "--port", self.ports["SINK_PORT"], "--sni", "sink.bench", "--count", self.mode["echo"])
        direct.setdefault("echo", []).append(raw)
        if self.backend_tls_available():
            raw = peer("ttfb", "--port", self.ports["BACKEND_TLS_PORT"], "--sni", "tls.bench", "--path", "/small.txt",
                       "--count", self.mode["ttfb"])
            direct.setdefault("ttfb", []).append(raw)

    def backend_tls_available(self):
        return any(b.name == "upstream nginx" for b in self.backends)

    def scenario_passthrough(self, server, front):
        port = self.passthrough_port(front)
        rep = len(self.results["direct"]["stream_mb_per_s"]) - 1
        raw = peer("stream", "--port", port, "--sni", "sink.bench", "--bytes", self.mode["stream_bytes"])
        if not raw["ok"]:
            raise RuntimeError("the sink did not confirm the stream")
        size = self.mode["stream_bytes"] >> 20
        self.record("s5.stream", f"Passthrough: MB/s of one {size} MiB stream (direct: "
                    f"{statistics.median(self.results['direct']['stream_mb_per_s']):.0f} MB/s)",
                    "MB/s", "higher", front, raw["mb_per_s"], raw, "5 passthrough")
        raw = peer("echo", "--port", port, "--sni", "sink.bench", "--count", self.mode["echo"])
        direct = self.results["direct"]["echo"][rep]
        for p in ("p50", "p99"):
            self.record(f"s5.latency-{p}", f"Passthrough: added round-trip latency {p} (64-byte echo, vs direct)",
                        "µs", "lower", front, raw[f"{p}_us"] - direct[f"{p}_us"], raw, "5 passthrough")
        if self.backend_tls_available():
            raw = peer("ttfb", "--port", port, "--sni", "tls.bench", "--path", "/small.txt", "--count", self.mode["ttfb"])
            direct = self.results["direct"]["ttfb"][rep]
            for p in ("p50", "p99"):
                self.record(f"s6.ttfb-passthrough-{p}",
                            f"Sniff cost: added time to first byte {p}, passthrough route (full TLS to the backend, vs direct)",
                            "µs", "lower", front, raw[f"{p}_us"] - direct[f"{p}_us"], raw, "6 sniff")

    def scenario_ttfb_terminate(self, server, front):
        raw = peer("ttfb", "--port", self.ports["TLS_PORT"], "--sni", "bench.local", "--path", "/porthole/status",
                   "--count", self.mode["ttfb"])
        if raw.get("count", 0) == 0:
            raise RuntimeError(f"no successful TLS requests ({raw})")
        self.note_tls_versions(front, raw)
        for p in ("p50", "p99"):
            self.record(f"s6.ttfb-terminate-{p}", f"Sniff cost: time to first byte {p}, terminate route (connect, TLS 1.3, GET)",
                        "µs", "lower", front, raw[f"{p}_us"], raw, "6 sniff")

    def note_tls_versions(self, front, raw):
        if raw.get("tls_versions") and raw["tls_versions"] != ["TLSv1.3"]:
            self.note(f"{front} negotiated {raw['tls_versions']} instead of TLS 1.3")

    # ---- orchestration

    def capture_status_page(self):
        status, body = https_get(self.ports["TLS_PORT"], "/porthole/status")
        if status != 200:
            raise RuntimeError(f"Porthole's status page answered {status}")
        with open(os.path.join(self.docroot, "status.html"), "wb") as f:
            f.write(body)
        self.results["status_page_bytes"] = len(body)
        if self.backend_tls_available():
            status, body = https_get(self.ports["TLS_PORT"], "/small.txt")
            expected = open(os.path.join(self.docroot, "small.txt"), "rb").read()
            self.porthole_proxy_available = status == 200 and body == expected
            if not self.porthole_proxy_available:
                self.unavailable("s2.porthole-upstream", "Keep-alive requests through Porthole's portal to the upstream",
                                 f"the portal proxy is not in this build (GET /small.txt answered {status}); "
                                 "nginx and HAProxy figures are still shown", "2 keep-alive")
        self.status_page_ready = True

    def phases(self):
        """(cert, front, rep) in the order they run: repetitions outermost, fronts interleaved."""
        order = []
        for rep in range(self.mode["reps"]):
            for cert in ("ecdsa", "rsa"):
                for front in self.fronts:
                    order.append((cert, front, rep))
        return order

    def steps_per_phase(self, cert):
        return 1 if cert == "rsa" else 5

    def run(self):
        phases = self.phases()
        progress = Progress(sum(self.steps_per_phase(c) for c, _, _ in phases) + self.mode["reps"] + 2)
        self.start_backends()
        failures = self.results.setdefault("failures", [])
        try:
            progress.step("polling agents (Porthole only) and dispatch calls")
            try:
                self.scenario_agents()
            except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as error:
                self.results["agent_failure"] = str(error)[:500]
                self.unavailable("s3.agents", "Idle polling agents and dispatch calls",
                                 f"the run failed: {str(error)[:300]} (see run/porthole-polling.log, run/agents.log)", "3 idle")
            for cert, front, rep in phases:
                if cert == "ecdsa" and front == self.fronts[0]:
                    progress.step(f"rep {rep + 1}: direct baselines (no front)")
                    self.scenario_direct()
                server = self.start_front(front, cert)
                try:
                    if front == "porthole" and not self.status_page_ready:
                        self.capture_status_page()
                    steps = ([("new TLS connections", lambda: self.scenario_handshakes(server, front, cert))]
                             if cert == "rsa" else
                             [("new + resumed TLS connections", lambda: self.scenario_handshakes(server, front, cert)),
                              ("keep-alive HTTP/1.1 + HTTP/2", lambda: self.scenario_keepalive(server, front)),
                              ("idle TLS connections", lambda: self.scenario_idle(server, front)),
                              ("passthrough stream + latency", lambda: self.scenario_passthrough(server, front)),
                              ("time to first byte, terminate", lambda: self.scenario_ttfb_terminate(server, front))])
                    for label, action in steps:
                        progress.step(f"rep {rep + 1}/{self.mode['reps']} {cert} {front:8s} {label}")
                        ended = server.exit_description()
                        if ended:
                            # The front died in an earlier step: say so once
                            # instead of a "connection refused" per scenario.
                            failures.append({"front": front, "cert": cert, "rep": rep + 1, "step": label,
                                             "error": f"skipped: the {front} front had {ended} (see run/{front}-{cert}.log)"})
                            continue
                        try:
                            action()
                        except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as error:
                            ended = server.exit_description()
                            why = str(error)[:500] + (f" [the {front} front had {ended}]" if ended else "")
                            failures.append({"front": front, "cert": cert, "rep": rep + 1, "step": label, "error": why})
                finally:
                    server.stop()
        finally:
            for backend in self.backends:
                backend.stop()
            progress.step("writing the report")
            progress.finish()


# ------------------------------------------------------------------ report

def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(value):
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(s):
    if s is None:
        return "—"
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def ratio(a, b):
    if a is None or b is None or b["median"] == 0:
        return None
    return a["median"] / b["median"]


def derived_rows(scenarios):
    """Handshake cost alone: CPU per new connection minus CPU per keep-alive request for the same page."""
    rows = []
    page = scenarios.get("s2.h1-status.cpu")
    for cert in ("ecdsa", "rsa"):
        for kind, label in (("new", "full handshake"), ("resume", "resumed handshake")):
            conn = scenarios.get(f"s1.tls-{kind}-{cert}.cpu")
            if not conn or not page:
                continue
            s = {}
            for front in FRONTS:
                a, b = conn["summary"].get(front), page["summary"].get(front)
                s[front] = None if a is None or b is None else {
                    "median": a["median"] - b["median"], "min": a["median"] - b["median"],
                    "max": a["median"] - b["median"], "n": 1}
            entry = {"title": f"Server CPU per {label}, {cert.upper()} (per-connection CPU minus per-request CPU "
                              "of keep-alive HTTP/1.1 to the same page; medians)",
                     "unit": "µs", "better": "lower", "group": "1 handshakes", "summary": s, "derived": True,
                     "ratio_nginx": ratio(s["porthole"], s["nginx"]), "ratio_haproxy": ratio(s["porthole"], s["haproxy"])}
            scenarios[f"s1.handshake-{kind}-{cert}.cpu"] = entry
            rows.append((f"s1.handshake-{kind}-{cert}.cpu", entry))
    return rows


def machine_description():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        memory = f", {int(open('/proc/meminfo').readline().split()[1]) / 1048576:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.node()}: {os.cpu_count()} × {model}{memory}, Linux {platform.release()}"


def tool_versions(porthole):
    def first_line(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            text = (r.stdout + r.stderr).strip().splitlines()
            return text[0] if text else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "not installed"
    return {"porthole": first_line([porthole, "--version"]), "nginx": first_line(["nginx", "-v"]),
            "haproxy": first_line(["haproxy", "-v"]), "openssl": first_line(["openssl", "version"]),
            "wrk": first_line(["wrk", "--version"]), "h2load": first_line(["h2load", "--version"])}


def write_report(harness, started, finished):
    results = harness.results
    mode = harness.args.mode
    table = []
    for key, entry in results["scenarios"].items():
        s = {front: summary(entry["runs"].get(front, [])) for front in FRONTS}
        entry["summary"] = s
        entry["ratio_nginx"] = ratio(s["porthole"], s["nginx"])
        entry["ratio_haproxy"] = ratio(s["porthole"], s["haproxy"])
        table.append((key, entry))
    table += derived_rows(results["scenarios"])
    table.sort(key=lambda row: row[0].split(".")[0])  # by scenario number; stable within one
    results["direct_summary"] = {
        "stream_mb_per_s": summary(results["direct"].get("stream_mb_per_s", [])),
        "echo_p50_us": summary([e["p50_us"] for e in results["direct"].get("echo", [])]),
        "echo_p99_us": summary([e["p99_us"] for e in results["direct"].get("echo", [])]),
        "ttfb_p50_us": summary([e.get("p50_us") for e in results["direct"].get("ttfb", [])]),
        "ttfb_p99_us": summary([e.get("p99_us") for e in results["direct"].get("ttfb", [])]),
    }
    results["meta"] = {"mode": mode, "started": started, "finished": finished, "machine": machine_description(),
                       "versions": tool_versions(harness.args.porthole), "reps": harness.mode["reps"],
                       "seconds_per_load_run": harness.mode["duration"], "server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU,
                       "porthole_threads": 1 if harness.porthole_thread_flags() else os.cpu_count(), "ports": harness.ports}
    with open(os.path.join(harness.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)

    lines = [f"# Porthole benchmark — {mode} run", "",
             f"- Started {started}, finished {finished}",
             f"- Machine: {results['meta']['machine']}",
             "- " + "; ".join(f"{k}: {v}" for k, v in results["meta"]["versions"].items()),
             f"- Fronts pinned to CPU {SERVER_CPU} (one nginx worker, one HAProxy thread, Porthole `--threads 1`); "
             f"load, upstream nginx and sink pinned to CPU {LOAD_CPU}",
             f"- Each figure: median (min–max) of {harness.mode['reps']} runs of {harness.mode['duration']} s "
             "(or of the stated size/sample count); ratios are of medians", ""]
    lines += ["| scenario | unit | better | Porthole | nginx | HAProxy | Porthole/nginx | Porthole/HAProxy |",
              "|---|---|---|---|---|---|---|---|"]
    for key, entry in table:
        s = entry["summary"]
        lines.append(f"| {entry['title']} | {entry['unit']} | {entry['better']} | {cell(s['porthole'])} | "
                     f"{cell(s['nginx'])} | {cell(s['haproxy'])} | {fmt(entry['ratio_nginx'])} | "
                     f"{fmt(entry['ratio_haproxy'])} |")
    d = results["direct_summary"]
    lines += ["", "## Direct baselines (no front in between)", "",
              f"- 1 stream straight to the sink: {cell(d['stream_mb_per_s'])} MB/s",
              f"- 64-byte echo round trip straight to the sink: p50 {cell(d['echo_p50_us'])} µs, p99 {cell(d['echo_p99_us'])} µs",
              f"- Time to first byte straight to the TLS backend: p50 {cell(d['ttfb_p50_us'])} µs, p99 {cell(d['ttfb_p99_us'])} µs",
              "", "Passthrough and sniff-cost rows show the time *added* to these baselines (can be slightly negative "
              "when the difference is below the noise)."]
    if results["unavailable"]:
        lines += ["", "## Not measured in this build", ""]
        for key, u in results["unavailable"].items():
            lines.append(f"- **{u['title']}**: {u['why']}")
    lines += ["", "## Scenarios without a reference equivalent", "",
              "- Polling calls through the dispatch API (scenario 4) and idle polling agents (scenario 3) exist only "
              "in Porthole; nginx and HAProxy have no polling server. Idle *TLS keep-alive* connections are measured "
              "for all three instead, as the closest comparable capacity figure."]
    if results["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
    if results.get("failures"):
        lines += ["", "## Failures (these runs are missing from the table)", ""]
        lines += [f"- rep {f['rep']} {f['cert']} {f['front']} — {f['step']}: {f['error']}" for f in results["failures"]]
    charts = write_charts(harness.out, table, results)
    if charts:
        lines += ["", "## Charts", ""] + [f"![{c}]({c})" for c in charts]
    else:
        lines += ["", "(No charts: python3-matplotlib is not installed; `benchmarks/run.sh --install` installs it.)"]
    with open(os.path.join(harness.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def write_charts(out, table, results):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    charts = []
    rows = [(key, e) for key, e in table if e["ratio_nginx"] is not None or e["ratio_haproxy"] is not None]
    if rows:
        fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
        labels = [f"{key} ({'↑' if e['better'] == 'higher' else '↓'} better)" for key, e in rows]
        positions = range(len(rows))
        ax.barh([p + 0.2 for p in positions], [e["ratio_nginx"] or 0 for _, e in rows], height=0.4, label="Porthole / nginx")
        ax.barh([p - 0.2 for p in positions], [e["ratio_haproxy"] or 0 for _, e in rows], height=0.4, label="Porthole / HAProxy")
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_yticks(list(positions))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ratio of medians (1.0 = same; ↑ rows: >1 is Porthole ahead; ↓ rows: <1 is Porthole ahead)")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "ratios.png"), dpi=110)
        plt.close(fig)
        charts.append("ratios.png")
    curves = {}
    for key, e in table:
        m = re.match(r"s3\.idle-tls-(\d+)$", key)
        if m:
            for front, s in e["summary"].items():
                if s:
                    curves.setdefault(f"{front} (TLS keep-alive)", []).append((int(m.group(1)), s["median"]))
        m = re.match(r"s3\.agents-(\d+)$", key)
        if m and e["summary"].get("porthole"):
            curves.setdefault("porthole (polling agents)", []).append((int(m.group(1)), e["summary"]["porthole"]["median"]))
    if curves:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for front, points in sorted(curves.items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=front)
        ax.set_xlabel("N idle connections")
        ax.set_ylabel("KiB of proportional set size per connection")
        ax.set_title("Memory per idle connection")
        ax.axhline(8, color="gray", linestyle="--", linewidth=1, label="8 KiB target (polling agent)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "memory-per-connection.png"), dpi=110)
        plt.close(fig)
        charts.append("memory-per-connection.png")
    return charts


def main():
    parser = argparse.ArgumentParser(description="Run the benchmark scenarios (normally through benchmarks/run.sh).")
    parser.add_argument("--mode", choices=sorted(MODES), default="full")
    parser.add_argument("--porthole", required=True, help="the porthole binary to measure")
    parser.add_argument("--out", required=True, help="output folder (created)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    harness = Harness(args)
    try:
        harness.run()
    finally:
        finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        write_report(harness, started, finished)
    print(os.path.join(args.out, "report.md"))
    if args.mode == "smoke" and harness.results.get("failures"):
        for f in harness.results["failures"]:
            print(f"smoke failure: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
