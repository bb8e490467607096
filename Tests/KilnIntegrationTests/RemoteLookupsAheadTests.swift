import Foundation
import KilnTestSupport
import Testing

/// Remote lookups are waited for, not worked for: a fresh checkout restoring from a
/// remote asks it about many tasks at once, beside the job slots (`TaskExecutor.lookUp`),
/// rather than one round trip per slot. Checked against a Bazel HTTP cache in Python
/// that answers every `/ac` GET only after 0.3 s and logs when each began and ended:
/// with one job slot (`-j1`), the lookups of a dozen independent tasks still overlap,
/// and never more than `Job.remoteLookupsInFlight` of them.
@Suite struct RemoteLookupsAheadTests {
  static let script = #"""
    import http.server, os, sys, threading, time

    root = sys.argv[1]
    store = os.path.join(root, "store")
    os.makedirs(store, exist_ok=True)
    lock = threading.Lock()

    def log(mark):
        with lock:
            with open(os.path.join(root, "lookups"), "a") as f:
                f.write(mark + "\n")

    class Cache(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def file(self):
            parts = self.path.strip("/").split("/")
            if len(parts) != 2 or parts[0] not in ("ac", "cas") or not parts[1] or \
                    any(c not in "0123456789abcdef" for c in parts[1]):
                return None
            return os.path.join(store, parts[0] + "-" + parts[1])

        def reply(self, code, body=b""):
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            path = self.file()
            if path is None:
                return self.reply(400)
            if self.command == "GET" and self.path.startswith("/ac/"):
                log("+")
                time.sleep(0.3)
                log("-")
            if not os.path.exists(path):
                return self.reply(404)
            with open(path, "rb") as f:
                self.reply(200, f.read())

        do_HEAD = do_GET

        def do_PUT(self):
            path = self.file()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if path is None:
                return self.reply(400)
            with open(path + ".part", "wb") as f:
                f.write(body)
            os.replace(path + ".part", path)
            self.reply(200)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cache)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """#

  /// The most `/ac` lookups the log shows in flight at once.
  static func peak(_ log: String) -> Int {
    var now = 0, most = 0
    for line in log.split(separator: "\n") {
      now += line == "+" ? 1 : -1
      most = max(most, now)
    }
    return most
  }

  @Test func aFreshCheckoutAsksTheRemoteAboutManyTasksAtOnceWithOneJobSlot() throws {
    let scratch = TempDirectory(prefix: "kiln-slow-remote")
    try Self.script.write(toFile: scratch.path + "/server.py", atomically: true, encoding: .utf8)
    let server = try TestServer("/usr/bin/python3", [scratch.path + "/server.py", scratch.path], scratch: scratch, port: nil)
    defer { server.stop() }
    var files = [
      "kiln.yml": """
        tasks:
          gen:
            foreach: src/*.txt
            outputs: out/{stem}.txt
            run: echo {stem} >> .runs/gen && tr a-z A-Z < {in} > {out}
        remote: http://127.0.0.1:\(server.port)

        """
    ]
    for k in 0..<12 { files["src/f\(k).txt"] = "file \(k)\n" }
    let ci = try TempProject(files)
    let upload = try ci.kiln("build", "-j1", environment: ["KILN_REMOTE_WRITE": "1"])
    #expect(upload.status == 0, "\(upload)")
    #expect(ci.runs("gen") == 12, "\(upload)")

    let log = scratch.path + "/lookups"
    try "".write(toFile: log, atomically: true, encoding: .utf8)
    let laptop = try ci.clone(sharingCache: false)
    let restore = try laptop.kiln("build", "-j1")
    #expect(restore.status == 0, "\(restore)")
    #expect(restore.ranCount == 0 && laptop.runs("gen") == 0, "everything restored: \(restore)")
    #expect(laptop.snapshot() == ci.snapshot(), "every output byte for byte")
    let lines = try String(contentsOfFile: log, encoding: .utf8)
    #expect(lines.split(separator: "\n").count == 24, "one lookup per instance: \(lines)")
    let peak = Self.peak(lines)
    #expect(peak >= 4, "with -j1 the 12 lookups still overlap; at most \(peak) were in flight at once")
    #expect(peak <= 16, "never more lookups ahead than allowed: \(peak)")
  }
}
