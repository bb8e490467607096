"""The remote cache group of `make bench` (issue 18): a fresh checkout of the generated
project, at a new path with an empty local cache, restoring everything from a remote
(nginx serving Bazel's HTTP cache protocol, and buildbox-casd serving REAPI), beside the
same fresh checkout restoring from a warm local cache, and beside ninja building it;
and the null build with a remote configured but unreachable, beside one without.

Servers: nginx and buildbox-casd as `make test` extracts them (.build/test-tools, or
BENCH_NGINX / BENCH_CASD), started here on 127.0.0.1 with fresh state and stopped by
PID. A CI checkout builds once with KILN_REMOTE_WRITE=1 against each server. Every
restored tree is compared byte for byte with the CI build's outputs, and kiln's summary
must say nothing ran.

The three restores run twice: with the trees and caches on the disk the rest of the bench
uses, and again on a tmpfs (/dev/shm, when it is there; BENCH_REMOTE_TMPFS=0 skips it).
On this machine's ext4 without a journal, every file created after the bench has deleted
trees costs a search for a free inode (an inode deleted in the last minutes is not
reused), which adds the same time to every side and squeezes the ratios towards 1; the
tmpfs rounds leave that out and show what kiln itself adds between a remote and a local
restore.
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

from runner import bench_env, rm, run_logged

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGETS = {"nginx/local": 1.5, "casd/local": 1.5, "nginx/ninja": 0.1, "casd/ninja": 0.1, "execute/local": 2.0}
# Remote execution (issue 19): isolated tasks of about 100 ms each, run on casd's local
# execution (buildbox-run, bwrap) beside the same build run here, same concurrency.
EXEC_TASKS = 8
EXEC_SLEEP = 0.1


def log(msg):
    print(msg, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench remote: nothing listens on 127.0.0.1:%d" % port)


def tool(name, env_name):
    path = os.environ.get(env_name) or os.path.join(ROOT, ".build", "test-tools", name)
    if not os.access(path, os.X_OK):
        raise SystemExit("bench remote: %s is missing (make bench extracts it into .build/test-tools; or set %s)"
                         % (name, env_name))
    return path


class Server:
    def __init__(self, argv, port, cwd):
        self.port = port
        self.p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        wait_port(port)

    def stop(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()


def start_nginx(work):
    root = os.path.join(work, "nginx")
    for d in ("root", "tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    port = free_port()
    conf = os.path.join(root, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off;
worker_processes 1;
%s
pid %s/nginx.pid;
error_log %s/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %s/tmp/body;
  proxy_temp_path %s/tmp/proxy;
  fastcgi_temp_path %s/tmp/fastcgi;
  uwsgi_temp_path %s/tmp/uwsgi;
  scgi_temp_path %s/tmp/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:%d;
    root %s/root;
    location / { dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r; }
  }
}
""" % ("user root;" if os.geteuid() == 0 else "", root, root, root, root, root, root, root, port, root))
    nginx = tool("nginx", "BENCH_NGINX")
    return Server([nginx, "-p", root, "-c", conf, "-e", os.path.join(root, "error.log")], port, root), \
        "http://127.0.0.1:%d/bench" % port


def start_casd(work, executing=False):
    root = os.path.join(work, "casd-exec" if executing else "casd")
    os.makedirs(root, exist_ok=True)
    port = free_port()
    casd = tool("buildbox-casd", "BENCH_CASD")
    extra = []
    if executing:
        # Each action in a bwrap sandbox, its input root as / with the system folders bound.
        extra = ["--buildbox-run=" + tool("buildbox-run", "BENCH_RUNNER"), "--jobs=4"]
        for bind in ("/usr:/usr", "/usr/bin:/bin", "/usr/lib:/lib", "/usr/lib64:/lib64", "/etc:/etc"):
            extra.append("--runner-arg=--ro-bind-mount=" + bind)
    return Server([casd] + extra + ["--bind", "127.0.0.1:%d" % port, os.path.join(root, "cache")], port, root), \
        "grpc://127.0.0.1:%d" % port


def exec_project(tree, label):
    """EXEC_TASKS isolated tasks of about EXEC_SLEEP seconds each. The inputs name the
    round, so no action is one the server ran before (its action cache would answer)."""
    os.makedirs(os.path.join(tree, "src"))
    for k in range(EXEC_TASKS):
        with open(os.path.join(tree, "src", "f%02d.txt" % k), "w") as f:
            f.write("file %d %s\n" % (k, label))
    with open(os.path.join(tree, "kiln.yml"), "w") as f:
        f.write("tasks:\n  slow:\n    foreach: src/*.txt\n    outputs: out/{stem}.txt\n    isolate: true\n"
                "    run: sleep %s && tr a-z A-Z < {in} > {out}\n" % EXEC_SLEEP)


def outputs(tree):
    out = {}
    for folder in ("build", "bin", "gen"):
        for dirpath, _, files in os.walk(os.path.join(tree, folder)):
            for name in files:
                if name.endswith(".d"):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, tree)] = f.read()
    return out


class RemoteBench:
    def __init__(self, bench, work, nice):
        self.bench, self.cfg, self.nice = bench, bench.cfg, nice
        self.work = os.path.join(work, "remote")
        self.kiln = bench.kiln
        self.logs = os.path.join(self.cfg.out, "logs", "remote")
        os.makedirs(self.logs, exist_ok=True)

    def env(self, cache, **extra):
        e = bench_env()
        e["KILN_CACHE_DIR"] = cache
        e["HOME"] = os.path.join(self.work, "home")
        e.update(extra)
        return e

    def fresh(self, name, at=None):
        tree = os.path.join(at or self.work, name)
        rm(tree)
        shutil.copytree(self.src, tree, symlinks=True)
        return tree

    def timed(self, argv, tree, env, label):
        r = run_logged(argv, tree, env, os.path.join(self.logs, label + ".log"))
        if r.status != 0:
            self.bench.failures.append("remote/%s: exit %s (%s)" % (label, r.status, self.nice(os.path.join(self.logs, label + ".log"))))
        return r

    def check(self, tree, label, r, ran_nothing=True):
        ok = r.status == 0 and outputs(tree) == self.expected
        if ok and ran_nothing and " 0 ran" not in r.output:
            ok = False
        if not ok:
            self.bench.failures.append("remote/%s: outputs differ from the CI build's, or commands ran" % label)
        return ok

    def restore_rounds(self, rounds, sides, at, suffix, warm_cache, urls, times, cpu, checks):
        """Each round, each side in turn (the order reversed every other round), in a fresh
        copy under `at`: from a remote with an empty local cache, from the warm local
        cache, or ninja's cold build. Results go to times/cpu/checks[side + suffix]."""
        jobs = str(self.cfg.jobs)
        kiln = [self.kiln, "build", "-j", jobs]
        for rnd in range(rounds):
            order = list(sides)
            if rnd % 2:
                order.reverse()
            for side in order:
                key = side + suffix
                label = "%s-%d" % (key, rnd)
                tree = self.fresh("fresh-" + label, at)
                if side == "ninja":
                    r = self.timed(["ninja", "-j", jobs], tree, bench_env(), label)
                    checks[key] &= r.status == 0 and outputs(tree) == self.expected
                else:
                    if side == "local":
                        env = self.env(warm_cache)
                    else:
                        cache = os.path.join(at, "empty-cache-" + label)
                        env = self.env(cache, KILN_REMOTE_CACHE=urls[side])
                    r = self.timed(kiln, tree, env, label)
                    checks[key] &= self.check(tree, label, r)
                    if side != "local":
                        rm(cache)
                times[key].append(r.seconds)
                cpu[key].append(r.cpu_seconds)
                rm(tree)

    def run(self):
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        units = self.cfg.units
        self.src = os.path.join(self.work, "src")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_synth.py"), self.src, "--units", str(units)],
                       check=True, stdout=subprocess.DEVNULL)
        log("== remote: synth %d units; a fresh checkout restoring from nginx (Bazel's HTTP cache) and from "
            "buildbox-casd (REAPI), beside a warm local cache and beside ninja" % units)
        servers = []
        try:
            nginx, nginx_url = start_nginx(self.work)
            servers.append(nginx)
            casd, casd_url = start_casd(self.work)
            servers.append(casd)
            jobs = str(self.cfg.jobs)
            kiln = [self.kiln, "build", "-j", jobs]
            # CI: one build per server, uploading; its outputs are what every restore must give.
            ci_cache = os.path.join(self.work, "ci-cache")
            for name, url in (("nginx", nginx_url), ("casd", casd_url)):
                tree = self.fresh("ci-" + name)
                self.timed(kiln, tree, self.env(os.path.join(self.work, "ci-cache-" + name), KILN_REMOTE_CACHE=url,
                                                KILN_REMOTE_WRITE="1"), "ci-" + name)
                self.expected = outputs(tree)
            # The warm local cache of the "local" side: a CI-like build into it.
            tree = self.fresh("warm")
            self.timed(kiln, tree, self.env(ci_cache), "warm")
            times = {k: [] for k in ("nginx", "casd", "local", "ninja")}
            cpu = {k: [] for k in times}
            checks = {k: True for k in times}
            rounds = self.cfg.rounds_full
            urls = {"nginx": nginx_url, "casd": casd_url}
            self.restore_rounds(rounds, ["nginx", "casd", "local", "ninja"], self.work, "", ci_cache, urls,
                                times, cpu, checks)
            # The same restores with every tree and cache on a tmpfs (see the top).
            shm = "/dev/shm"
            if os.environ.get("BENCH_REMOTE_TMPFS", "1") != "0" and os.path.isdir(shm) and os.access(shm, os.W_OK):
                import tempfile
                at = tempfile.mkdtemp(prefix="kiln-bench-remote.", dir=shm)
                try:
                    for k in ("nginx-tmpfs", "casd-tmpfs", "local-tmpfs"):
                        times[k], cpu[k], checks[k] = [], [], True
                    tree = self.fresh("warm", at)
                    warm = os.path.join(at, "warm-cache")
                    self.timed(kiln, tree, self.env(warm), "warm-tmpfs")
                    shutil.rmtree(tree, ignore_errors=True)
                    self.restore_rounds(rounds, ["nginx", "casd", "local"], at, "-tmpfs", warm, urls,
                                        times, cpu, checks)
                finally:
                    shutil.rmtree(at, ignore_errors=True)
            # The null build with a remote that is not there, beside one without any.
            tree = self.fresh("null")
            self.timed(kiln, tree, self.env(ci_cache), "null-first")
            dead = "http://127.0.0.1:%d/nobody" % free_port()
            for side in ("null-plain", "null-unreachable"):
                times[side], cpu[side] = [], []
            for rnd in range(self.cfg.rounds):
                for side in (("null-plain", "null-unreachable") if rnd % 2 == 0 else ("null-unreachable", "null-plain")):
                    env = self.env(ci_cache, **({"KILN_REMOTE_CACHE": dead} if side == "null-unreachable" else {}))
                    r = self.timed(kiln, tree, env, "%s-%d" % (side, rnd))
                    times[side].append(r.seconds)
                    cpu[side].append(r.cpu_seconds)
                    if "remote cache" in r.output:
                        self.bench.failures.append("remote/%s: the null build spoke of the remote" % side)
            # Remote execution: the same isolated tasks here and on casd's workers, with as
            # many actions out there as job slots here; a fresh tree and cache each round.
            executing, exec_url = start_casd(self.work, executing=True)
            servers.append(executing)
            for side in ("exec-local", "exec-remote"):
                times[side], cpu[side] = [], []
            exec_ok = True
            for rnd in range(rounds):
                for side in (("exec-local", "exec-remote") if rnd % 2 == 0 else ("exec-remote", "exec-local")):
                    label = "%s-%d" % (side, rnd)
                    tree = os.path.join(self.work, label)
                    rm(tree)
                    exec_project(tree, label)
                    extra = {"KILN_REMOTE_EXECUTE": exec_url, "KILN_REMOTE_EXECUTE_JOBS": jobs} if side == "exec-remote" else {}
                    r = self.timed(kiln, tree, self.env(os.path.join(self.work, "cache-" + label), **extra), label)
                    times[side].append(r.seconds)
                    cpu[side].append(r.cpu_seconds)
                    remote_said = "(%d remotely)" % EXEC_TASKS in r.output
                    if r.status != 0 or (side == "exec-remote") != remote_said or "running it here" in r.output:
                        exec_ok = False
                        self.bench.failures.append("remote/%s: did not run every task %s" % (label, "remotely" if side == "exec-remote" else "here"))
                    for k in range(EXEC_TASKS):
                        with open(os.path.join(tree, "out", "f%02d.txt" % k)) as f:
                            exec_ok &= f.read() == ("FILE %d %s\n" % (k, label)).upper()
                    rm(tree)
            checks["execute"] = exec_ok
            med = {k: statistics.median(v) for k, v in times.items()}
            res = {"units": units, "rounds": rounds, "rounds_null": self.cfg.rounds, "median": med,
                   "exec_tasks": EXEC_TASKS, "exec_sleep": EXEC_SLEEP,
                   "cpu": {k: statistics.median(v) for k, v in cpu.items()}, "checks": checks,
                   "ratios": {"nginx/local": med["nginx"] / med["local"], "casd/local": med["casd"] / med["local"],
                              "nginx/ninja": med["nginx"] / med["ninja"], "casd/ninja": med["casd"] / med["ninja"],
                              "null": med["null-unreachable"] / med["null-plain"],
                              "execute/local": med["exec-remote"] / med["exec-local"]}}
            if "local-tmpfs" in med:
                for server in ("nginx", "casd"):
                    res["ratios"][server + "-tmpfs/local-tmpfs"] = med[server + "-tmpfs"] / med["local-tmpfs"]
            self.bench.results["remote"] = res
            log("   fresh checkout: from nginx %.3f s, from casd %.3f s, warm local cache %.3f s, ninja %.3f s"
                % (med["nginx"], med["casd"], med["local"], med["ninja"]))
            if "local-tmpfs" in med:
                log("   on tmpfs: from nginx %.3f s, from casd %.3f s, warm local cache %.3f s"
                    % (med["nginx-tmpfs"], med["casd-tmpfs"], med["local-tmpfs"]))
            log("   null build: %.4f s without a remote, %.4f s with an unreachable one"
                % (med["null-plain"], med["null-unreachable"]))
            log("   remote execution, %d tasks of %.1f s: here %.3f s, on casd's workers %.3f s"
                % (EXEC_TASKS, EXEC_SLEEP, med["exec-local"], med["exec-remote"]))
        finally:
            for s in servers:
                s.stop()


def run(bench, work, nice):
    RemoteBench(bench, work, nice).run()


# -- the report (bench/report.py calls these) ------------------------------------------
def targets(data):
    r = data.get("remote")
    if not r:
        return []
    rows = []
    m, ratios = r["median"], r["ratios"]
    for server, title in (("nginx", "nginx, Bazel's HTTP cache"), ("casd", "buildbox-casd, REAPI")):
        ok = r["checks"][server] and r["checks"]["local"] and r["checks"]["ninja"]
        for ref, against in (("local", "a fresh checkout on a warm local cache"), ("ninja", "ninja's build")):
            key = "%s/%s" % (server, ref)
            limit = TARGETS[key]
            rows.append({"scenario": "remote cache (issue 18; %d units): fresh checkout, empty local cache, from %s"
                                     % (r["units"], title),
                         "target": "<= %s of %s" % (limit, against), "ref": "remote/" + key,
                         "measured": ratios[key], "met": ok and ratios[key] <= limit, "ok": ok,
                         "detail": "kiln %.3f s, warm local cache %.3f s, ninja %.3f s"
                                   % (m[server], m["local"], m["ninja"])})
    for server, title in (("nginx", "nginx"), ("casd", "buildbox-casd")):
        key = "%s-tmpfs/local-tmpfs" % server
        if key not in ratios:
            continue
        ok = r["checks"][server + "-tmpfs"] and r["checks"]["local-tmpfs"]
        limit = TARGETS["%s/local" % server]
        rows.append({"scenario": "remote cache (issue 18): the same from %s with trees and caches on a tmpfs "
                                 "(no inode search on the disk)" % title,
                     "target": "<= %s of a fresh checkout on a warm local cache, on the tmpfs too" % limit,
                     "ref": "remote/" + key, "measured": ratios[key], "met": ok and ratios[key] <= limit, "ok": ok,
                     "detail": "kiln %.3f s, warm local cache %.3f s" % (m[server + "-tmpfs"], m["local-tmpfs"])})
    rows.append({"scenario": "remote cache: null build with an unreachable remote configured",
                 "target": "no cost (the null build does not ask the remote)", "ref": "remote/null",
                 "measured": ratios["null"], "met": None, "ok": True,
                 "detail": "%.4f s against %.4f s without a remote" % (m["null-unreachable"], m["null-plain"])})
    if "exec-remote" in m:
        per_task = (m["exec-remote"] - m["exec-local"]) / (r["exec_tasks"] / float(data.get("config", {}).get("jobs", 2) or 2))
        rows.append({"scenario": "remote execution (issue 19): %d isolated tasks of %d ms on buildbox-casd + buildbox-run, loopback"
                                 % (r["exec_tasks"], int(r["exec_sleep"] * 1000)),
                     "target": "<= 2.0 of the same build run here", "ref": "remote/execute/local",
                     "measured": ratios["execute/local"], "met": r["checks"]["execute"] and ratios["execute/local"] <= 2.0,
                     "ok": r["checks"]["execute"],
                     "detail": "remote %.3f s, here %.3f s (same concurrency); %.0f ms more per task"
                               % (m["exec-remote"], m["exec-local"], per_task * 1000)})
    return rows


def markdown(r):
    m = r["median"]
    return ["### remote", "",
            "The generated project (%d units): a fresh copy at a new path with an empty local cache restoring from a "
            "remote, %d rounds, medians; the null build %d rounds." % (r["units"], r["rounds"], r["rounds_null"]), "",
            "| side | wall | CPU | outputs |", "|---|---:|---:|---|"] + [
        "| %s | %.3f s | %.3f s | %s |" % (label, m[k], r["cpu"][k], "ok" if r["checks"].get(k, True) else "WRONG")
        for k, label in (("nginx", "from nginx (HTTP)"), ("casd", "from buildbox-casd (REAPI)"),
                         ("local", "from a warm local cache"), ("ninja", "ninja, cold"),
                         ("nginx-tmpfs", "from nginx, on a tmpfs"), ("casd-tmpfs", "from buildbox-casd, on a tmpfs"),
                         ("local-tmpfs", "from a warm local cache, on a tmpfs"),
                         ("null-plain", "null build, no remote"), ("null-unreachable", "null build, unreachable remote"),
                         ("exec-local", "isolated 100 ms tasks, run here"), ("exec-remote", "the same, on casd's workers"))
        if k in m] + [""]
