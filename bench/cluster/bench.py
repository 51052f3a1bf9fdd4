"""bench/cluster: see ./run --help. Standard library only."""
import argparse, http.client, json, os, signal, socket, subprocess, threading, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def wait(cond, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if cond(): return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"bench: {what} did not happen within {timeout}s")

def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path); r = c.getresponse(); body = r.read(); c.close()
    return r.status, body

class Procs:
    def __init__(self): self.all = []
    def start(self, args, log):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        self.all.append(p); return p
    def stop(self):
        for p in self.all:
            if p.poll() is None: p.send_signal(signal.SIGTERM)
        for p in self.all:
            try: p.wait(10)
            except subprocess.TimeoutExpired: p.kill()

def serve(a, procs, name, config):
    port = free_port()
    cfg = os.path.join(a.work, name + ".toml")
    open(cfg, "w").write(config)
    procs.start([a.playtrace, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                 os.path.join(a.work, name), "--config", cfg], os.path.join(a.work, name + ".log"))
    wait(lambda: get(port, "/readyz")[0] == 200, f"{name} ready")
    return port

def nats_cluster(a, procs):
    ports = [(free_port(), free_port()) for _ in range(3)]
    for i, (client, route) in enumerate(ports):
        routes = ", ".join(f"nats-route://127.0.0.1:{r}" for j, (_, r) in enumerate(ports) if j != i)
        conf = os.path.join(a.work, f"nats-{i}.conf")
        open(conf, "w").write(
            f'server_name: n{i}\nlisten: 127.0.0.1:{client}\n'
            f'jetstream {{ store_dir: "{a.work}/nats-{i}" }}\n'
            f'cluster {{ name: bench\n listen: 127.0.0.1:{route}\n routes: [{routes}] }}\n')
        procs.start([a.nats, "-c", conf], os.path.join(a.work, f"nats-{i}.log"))
    return [c for c, _ in ports]

def cluster_config(nats_ports, node):
    urls = ", ".join(f'"nats://127.0.0.1:{p}"' for p in nats_ports)
    return f'[cluster]\nnats = [{urls}]\nnode = "{node}"\nreplicas = 3\n'

def caught_up(port):
    s, body = get(port, "/v1/cluster")
    if s != 200: return False
    v = json.loads(body); return v["applied"] == v["streamLast"]

def load(a, ports, tag):
    """`clients` keep-alive clients for `seconds`, round-robin over `ports`; retries 503."""
    stop = time.time() + a.seconds
    lat, counts, lock = [], [0], threading.Lock()
    def client(c):
        n = 0
        conns = {}
        while time.time() < stop:
            body = "".join(
                f'{{"event":"bench.tick","id":"{tag}-{c}-{n}-{i}","game":"g","attrs":{{"hubId":"h","i":{i}}}}}\n'
                for i in range(a.batch)).encode()
            port = ports[(c + n) % len(ports)]
            t0 = time.perf_counter()
            while True:
                try:
                    conn = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    conns[port] = conn
                    conn.request("POST", "/v1/events", body, {"Content-Type": "application/x-ndjson"})
                    r = conn.getresponse(); r.read()
                    if r.status == 200: break
                except (OSError, http.client.HTTPException):
                    conns.pop(port, None)
                time.sleep(0.01)
            with lock:
                lat.append(time.perf_counter() - t0); counts[0] += a.batch
            n += 1
    threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
    t0 = time.time()
    for t in threads: t.start()
    for t in threads: t.join()
    took = time.time() - t0
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
    return counts[0] / took, p99, counts[0]

def main():
    ap = argparse.ArgumentParser()
    for k in ("playtrace", "nats", "work"): ap.add_argument("--" + k, required=True)
    for k in ("seconds", "clients", "batch"): ap.add_argument("--" + k, type=int, required=True)
    a = ap.parse_args()
    procs = Procs()
    try:
        single = serve(a, procs, "single", "")
        s_rate, s_p99, _ = load(a, [single], "single")
        nats_ports = nats_cluster(a, procs)
        nodes = [serve(a, procs, f"c{i}", cluster_config(nats_ports, f"c{i}")) for i in range(3)]
        for p in nodes: wait(lambda: caught_up(p), "cluster node joined")
        # A new stream elects its leader first: warm up until every node acknowledges.
        for p in nodes:
            def acked(p=p):
                c = http.client.HTTPConnection("127.0.0.1", p, timeout=30)
                c.request("POST", "/v1/events", b'{"event":"bench.warmup","game":"g"}\n',
                          {"Content-Type": "application/x-ndjson"})
                return c.getresponse().status == 200
            wait(acked, "cluster node acknowledged a warm-up request")
        c_rate, c_p99, total = load(a, nodes, "cluster")
        for p in nodes: wait(lambda: caught_up(p), "cluster node caught up", 600)
        t0 = time.time()
        fresh = serve(a, procs, "fresh", cluster_config(nats_ports, "fresh"))
        wait(lambda: caught_up(fresh), "fresh node rebuilt", 1800)
        rebuild = time.time() - t0
        apply_rate = total / rebuild
        load_avg = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} cores, load average {load_avg:.1f} at the end")
        print(f"single node : {s_rate:10.0f} events/s  p99 ack {s_p99:7.1f} ms")
        print(f"3x3 cluster : {c_rate:10.0f} events/s  p99 ack {c_p99:7.1f} ms")
        print(f"ratio cluster/single: {c_rate / s_rate:.2f}")
        print(f"rebuild from the stream: {total} events in {rebuild:.1f} s = "
              f"{rebuild / total * 1e6:.0f} s per million events ({apply_rate:.0f} events/s)")
        # Paper estimate: every collector parses its share of requests and applies every event.
        # Here 6 processes share the machine; on N machines (one collector + one NATS server
        # each) the front work spreads over N, the apply work does not: each node applies all.
        front = c_rate * 3  # a whole machine per collector instead of a third of one
        for n in (3, 5, 9):
            est = min(n * front / 3, apply_rate * 1.0)
            print(f"estimate, {n} machines: ~{est:.0f} events/s "
                  f"(min(N x front {front / 3:.0f}/node, apply ceiling {apply_rate:.0f}))")
    finally:
        procs.stop()

if __name__ == "__main__":
    main()
