"""The launcher group's part of the report (bench/report.py calls targets, markdown,
what_measured and console with results.json's "launcher")."""
from launcher import LATENCY_TARGET, SCENARIOS, TARGETS, TITLES, WHAT
from launcher_projects import LABELS, did


def fmt_ratio(r):
    return "n/a" if r is None else "%.2fx" % r


def fmt_s(s):
    return "%.3f s" % s


def targets(data):
    """Rows for report.targets: issue 15's targets, kiln's ratio to ccache (cold: to
    the plain compiler; 200 concurrent calls: the failures)."""
    lr = data.get("launcher")
    if not lr:
        return []
    rows = []
    missing = "kiln not measured: %s" % lr.get("kiln_why") if not lr.get("kiln") else None
    for pname, res in lr["projects"].items():
        for scenario, limit, ref in TARGETS:
            e = res["scenarios"].get(scenario)
            if e is None:
                continue
            key = "ratio_to_" + ref
            r = e[key].get("kiln")
            t = e["tools"]
            detail = missing or "kiln %s, %s %s" % (fmt_s(t["kiln"]["median"]), LABELS[ref], fmt_s(t[ref]["median"]))
            if scenario == "cold" and "ccache" in t:
                detail += "; ccache %s (%s of gcc's)" % (fmt_s(t["ccache"]["median"]),
                                                         fmt_ratio(e["ratio_to_plain"].get("ccache")))
            if scenario == "worktree" and "ccache" in t:
                w = [r["work"] for r in t["ccache"]["runs"] if r["work"]]
                if w and not any(x["misses"] for x in w):
                    detail += "; ccache without base_dir missed nothing here (no path of the checkout in the " \
                              "compile commands or the preprocessed text)"
            if scenario == "worktree" and "ccache-base" in t and not missing:
                detail += "; ccache with base_dir %s (kiln's ratio to it: %s)" % (
                    fmt_s(t["ccache-base"]["median"]), fmt_ratio(round(t["kiln"]["median"] / t["ccache-base"]["median"], 3)))
            rows.append({"scenario": "launcher, %s: %s" % (pname, TITLES[scenario]),
                         "target": "<= %s of %s's" % (limit, "the plain compiler" if ref == "plain" else
                                                     "ccache (no base_dir)" if scenario == "worktree" else "ccache"),
                         "ref": "launcher/%s/%s" % (pname, scenario), "measured": r,
                         "met": (r is not None and r <= limit) if e["ok"] else False, "ok": e["ok"],
                         "detail": detail})
    lat = lr.get("latency")
    if lat:
        t = lat["tools"]
        k = t.get("kiln")
        r = k["ratio_to_ccache"] if k else None
        detail = missing or "kiln %.2f ms, ccache %.2f ms (direct hit), gcc alone %.2f ms" % (
            k["median_ms"], t["ccache"]["median_ms"], t["plain"]["median_ms"])
        if "kiln-masq" in t:
            detail += ", kiln through a masquerade link %.2f ms (%s)" % (t["kiln-masq"]["median_ms"],
                                                                      fmt_ratio(t["kiln-masq"]["ratio_to_ccache"]))
        rows.append({"scenario": "launcher: cache hit latency per call (%d calls)" % lat["calls"],
                     "target": "<= %s of ccache's" % LATENCY_TARGET, "ref": "launcher/latency", "measured": r,
                     "met": (r is not None and r <= LATENCY_TARGET) if lat["ok"] else False, "ok": lat["ok"],
                     "detail": detail})
    conc = lr.get("concurrent")
    if conc:
        f = conc["failures"]
        k = f.get("kiln")
        rows.append({"scenario": "launcher: %d concurrent calls (cold and warm, %d round(s))" % (
            conc["calls"], conc["rounds"]), "target": "0 failures", "ref": "launcher/concurrent", "measured": k,
            "format": "count", "met": k == 0, "ok": True,
            "detail": missing or "kiln: cold %s, warm %s; ccache: cold %s, warm %s (failures: ccache %d)" % (
                fmt_s(conc["tools"]["kiln"]["cold"]["median"]), fmt_s(conc["tools"]["kiln"]["warm"]["median"]),
                fmt_s(conc["tools"]["ccache"]["cold"]["median"]), fmt_s(conc["tools"]["ccache"]["warm"]["median"]),
                f.get("ccache", 0))})
    return rows


def project_table(res):
    names = [n for n in LABELS if any(n in e["tools"] for e in res["scenarios"].values())]
    head = ["scenario", "rounds", "kiln/ccache", "kiln/gcc"] + [LABELS[n] for n in names] + ["check"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---:", "---:", "---:"] + ["---:"] * len(names)
                                                          + ["---"]) + "|"]
    for s, e in res["scenarios"].items():
        row = [TITLES.get(s, s), str(e["rounds"]), fmt_ratio(e["ratio_to_ccache"].get("kiln")),
               fmt_ratio(e["ratio_to_plain"].get("kiln"))]
        row += [fmt_s(e["tools"][n]["median"]) if n in e["tools"] else "" for n in names]
        row.append("ok" if e["ok"] else "WRONG (%s)" % ", ".join(LABELS[n] for n in e["tools"]
                                                                 if not e["tools"][n]["ok"]))
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def details_table(res):
    out = ["| scenario | compiler | median | min - max | CPU (median) | same as gcc's | did (last round) |",
           "|---|---|---:|---:|---:|---|---|"]
    for s, e in res["scenarios"].items():
        for n, t in e["tools"].items():
            same = [r.get("same_as_plain") for r in t["runs"]]
            same_s = "reference" if n == "plain" else ("yes" if all(same) else "%d of %d rounds" % (
                sum(1 for x in same if x), len(same)))
            out.append("| %s | %s | %s | %.3f - %.3f | %s | %s | %s |" % (
                TITLES.get(s, s), LABELS[n], fmt_s(t["median"]), t["min"], t["max"], fmt_s(t["cpu_median"]),
                same_s, did(n, t["runs"][-1]["work"])))
    return "\n".join(out)


def latency_table(lat):
    out = ["| compiler | median per call | min - max | CPU (median) | ratio to ccache | calls failed |",
           "|---|---:|---:|---:|---:|---:|"]
    for n, t in lat["tools"].items():
        out.append("| %s | %.2f ms | %.2f - %.2f ms | %.2f ms | %s | %d |" % (
            LABELS[n], t["median_ms"], t["min_ms"], t["max_ms"], t["cpu_median_ms"], fmt_ratio(t["ratio_to_ccache"]),
            t["failures"]))
    return "\n".join(out)


def concurrent_table(conc):
    out = ["| compiler | phase | wall time (median) | min - max | failures (all rounds) | messages (first round) |",
           "|---|---|---:|---:|---:|---|"]
    for n, phases in conc["tools"].items():
        for ph, e in phases.items():
            msgs = e["runs"][0]["messages"]
            out.append("| %s | %s | %s | %.3f - %.3f | %d | %s |" % (
                LABELS[n], ph, fmt_s(e["median"]), e["min"], e["max"], e["failures"],
                "; ".join(m.replace("|", "\\|") for m in msgs[:2]) if msgs else ""))
    return "\n".join(out)


def markdown(lr):
    parts = ["### launcher", "",
             "Issue 15: kiln as a compiler launcher (`CC=\"kiln gcc\"`) beside `ccache gcc` and plain `gcc`, the "
             "projects built by their own Makefiles with `make -jN CC=...`; %s; %s; %s. kiln/ccache is kiln's "
             "median wall time over ccache's (fresh worktree: ccache without base_dir), kiln/gcc over the plain "
             "compiler's; lower is better." % (lr["versions"]["gcc"], lr["versions"]["ccache"], lr["versions"]["make"]),
             ""]
    if not lr.get("kiln"):
        parts += ["**kiln was not measured**: %s." % lr.get("kiln_why"), ""]
    if lr.get("lua_skipped"):
        parts += ["**lua skipped**: %s." % lr["lua_skipped"], ""]
    for pname, res in lr["projects"].items():
        parts += ["#### launcher: %s" % pname, "", res["description"] + " (%d compiles per full build)."
                  % res["compiles"], "", project_table(res), ""]
    lat = lr.get("latency")
    if lat:
        parts += ["#### launcher: cache hit latency", "",
                  "`%s` (a synth unit, `%s`), warm caches, %d calls per compiler one after the other (the compilers "
                  "rotated each call; the outputs deleted before each, untimed); each call's object and depfile "
                  "compared with plain gcc's. The wall time includes starting the process from Python (the same "
                  "for every compiler)." % (lat["command"], lat["unit"], lat["calls"]), "", latency_table(lat), ""]
    conc = lr.get("concurrent")
    if conc:
        parts += ["#### launcher: %d concurrent calls" % conc["calls"], "",
                  "%d distinct small units in one folder, `make -k -j%d` (every compile at once), %d round(s): cold "
                  "(empty cache) then warm (objects deleted); a failure is a non-zero exit, a missing object or one "
                  "not byte for byte plain gcc's." % (conc["calls"], conc["calls"], conc["rounds"]), "",
                  concurrent_table(conc), ""]
    parts += ["Details (*did*: ccache's statistics; kiln's `kiln cache stats --json` numbers that changed, where it "
              "reports any):", ""]
    for pname, res in lr["projects"].items():
        parts += ["%s:" % pname, "", details_table(res), ""]
    return parts


def what_measured(c):
    return ("- **launcher** (issue 15, `bench/launcher.py`, `launcher_projects.py`, `launcher_report.py`): the synth project at %s units (its Makefile, the "
            "include folder given as an absolute path) and Lua 5.4 (Debian's source package, its own Makefiles, "
            "relative paths), each in a git repository copied once per compiler: plain `gcc`, `ccache gcc` "
            "(private `CCACHE_DIR`, no base_dir; for the fresh worktree also with `CCACHE_BASEDIR` = the folder "
            "holding the project's checkouts), `kiln gcc` (private `KILN_CACHE_DIR`). Scenarios: %s. Every build "
            "is checked: the program's output, and every object, library and executable byte for byte plain gcc's "
            "of the same sources (depfiles with the checkout's path normalised; naming another checkout is wrong). "
            "Then the hit latency of one compile (%d calls per compiler, kiln also through a masquerade link) and "
            "%d concurrent compiles (`make -k -j%d`, cold and warm). Rounds: %d (cold: at most %d)."
            % ("{:,}".format(c.get("units_launcher", 0)), "; ".join("*%s*: %s" % (TITLES[s], WHAT[s])
                                                                    for s, _, _, _ in SCENARIOS),
               c.get("calls_launcher", 0), c.get("concurrent_launcher", 0), c.get("concurrent_launcher", 0),
               c.get("rounds_launcher", 0), c.get("rounds_full", 0)))


def console(lr):
    parts = []
    if not lr.get("kiln"):
        parts.append("launcher: kiln not measured: %s" % lr.get("kiln_why"))
    for pname, res in lr["projects"].items():
        parts += ["launcher/%s: %s" % (pname, res["description"]), project_table(res), ""]
    if lr.get("latency"):
        parts += ["launcher/latency:", latency_table(lr["latency"]), ""]
    if lr.get("concurrent"):
        parts += ["launcher/concurrent:", concurrent_table(lr["concurrent"]), ""]
    return "\n".join(parts)
