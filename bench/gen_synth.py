#!/usr/bin/env python3
"""Generate the synthetic C project that bench/quick.sh builds with kiln and ninja.

    python3 bench/gen_synth.py DIR [--units N] [--seed S]

Deterministic for a given seed. The project:

    include/config.h            SYN_BASE; included by common.h
    include/common.h            included by every unit (and by every module header)
    include/util.h              included by about a third of the units
    include/mod/mNN.h           40 module headers; each includes common.h and its
                                parent module (a tree), m00..m02 are hot
    src/dNN/uXXXX.c             the units, 100 per folder; each includes 2-3 headers
                                and defines uXXXX() returning a constant
    app/main.c                  sums every unit into a checksum and prints it
    kiln.yml, build.ninja       the same build: compile each unit (depfile),
                                archive them into build/libsynth.a, link bin/synth

The checksum the program prints is predicted by `Synth.checksum()`, so the bench
can check every build without a reference build of its own.
"""
import argparse
import os
import random
import re

CFLAGS = "-O0 -Wall"   # the compiler's work is the same for both tools; -O0 keeps it short
UNITS_PER_DIR = 100
MODULES = 40
SYN_BASE = 3
MASK = (1 << 64) - 1
VALUE_RE = re.compile(r"^#define UNIT_VALUE (\d+)$", re.M)


def checksum_of(values):
    """What app/main.c prints for these unit values (in unit order)."""
    s = 0
    for v in values:
        s = (s * 1000003 + v) & MASK
    return s


class Synth:
    def __init__(self, units=2000, seed=20240611):
        self.units = units
        rng = random.Random(seed)
        self.mod_k = [rng.randint(1, 97) for _ in range(MODULES)]
        # Hot modules first: m00..m02 get about half of the picks.
        weights = [12, 10, 8] + [1] * (MODULES - 3)
        self.unit_headers = []   # list of header paths (relative to include/)
        self.unit_mod = []       # the module whose constant the unit uses
        self.unit_c = []         # UNIT_VALUE
        for _ in range(units):
            m = rng.choices(range(MODULES), weights)[0]
            headers = ["common.h", "mod/m%02d.h" % m]
            extra = rng.random()
            if extra < 0.35:
                headers.append("util.h")
            elif extra < 0.55:
                m2 = rng.choices(range(MODULES), weights)[0]
                if m2 != m:
                    headers.append("mod/m%02d.h" % m2)
            self.unit_headers.append(headers)
            self.unit_mod.append(m)
            self.unit_c.append(rng.randint(1, 999_999))

    # -- paths -------------------------------------------------------------
    def unit_name(self, i):
        return "u%04d" % i

    def unit_dir(self, i):
        return "src/d%02d" % (i // UNITS_PER_DIR)

    def unit_path(self, i):
        return "%s/%s.c" % (self.unit_dir(i), self.unit_name(i))

    def unit_object(self, i):
        return "build/%s/%s.o" % (self.unit_dir(i), self.unit_name(i))

    # -- values ------------------------------------------------------------
    def unit_return(self, i, c):
        return SYN_BASE + self.mod_k[self.unit_mod[i]] + c

    def checksum(self, values=None):
        """values: {unit index: UNIT_VALUE} overriding the generated ones."""
        values = values or {}
        return checksum_of(self.unit_return(i, values.get(i, self.unit_c[i]))
                           for i in range(self.units))

    @staticmethod
    def read_value(text):
        return int(VALUE_RE.search(text).group(1))

    @staticmethod
    def with_value(text, c):
        return VALUE_RE.sub("#define UNIT_VALUE %d" % c, text, count=1)

    # -- sources -----------------------------------------------------------
    def config_h(self):
        return ("#ifndef CONFIG_H\n#define CONFIG_H\n"
                "#define SYN_BASE %d\n#define SYN_VERSION \"1.0\"\n"
                "#define SYN_TABLE_SIZE 64\n#endif\n" % SYN_BASE)

    def common_h(self):
        return """#ifndef COMMON_H
#define COMMON_H
#include <stddef.h>
#include <stdint.h>
#include "config.h"

typedef struct syn_span { const int *data; size_t len; } syn_span;

#define SYN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SYN_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline int syn_sum(syn_span s) {
    int t = 0;
    for (size_t i = 0; i < s.len; i++) t += s.data[i];
    return t;
}
#endif
"""

    def util_h(self):
        return """#ifndef UTIL_H
#define UTIL_H
#include "common.h"

static inline uint32_t syn_mix(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; x ^= x >> 16;
    return x;
}
static inline int syn_clamp(int v, int lo, int hi) { return SYN_MIN(SYN_MAX(v, lo), hi); }
#endif
"""

    def module_h(self, m):
        parent = '#include "mod/m%02d.h"\n' % ((m - 1) // 3) if m > 0 else ""
        return """#ifndef M%(m)02d_H
#define M%(m)02d_H
#include "common.h"
%(parent)s
#define M%(m)02d_K %(k)d

typedef struct m%(m)02d_state { int v[M%(m)02d_K %% 7 + 1]; syn_span span; } m%(m)02d_state;

static inline int m%(m)02d_scale(int x) { return x * M%(m)02d_K; }
#endif
""" % {"m": m, "k": self.mod_k[m], "parent": parent}

    def unit_c_source(self, i):
        m = self.unit_mod[i]
        name = self.unit_name(i)
        incl = "".join('#include "%s"\n' % h for h in self.unit_headers[i])
        return """/* %(path)s: generated by bench/gen_synth.py */
%(incl)s
#define UNIT_VALUE %(c)d

int %(name)s(void) { return SYN_BASE + M%(m)02d_K + UNIT_VALUE; }

int %(name)s_work(const int *v, size_t n) {
    int s = 0;
    for (size_t i = 0; i < n; i++) s += m%(m)02d_scale(v[i]) ^ (int)i;
    return s;
}
""" % {"path": self.unit_path(i), "incl": incl, "c": self.unit_c[i], "name": name, "m": m}

    def main_c(self):
        decls = "".join("int %s(void);\n" % self.unit_name(i) for i in range(self.units))
        table = "".join("    %s,\n" % self.unit_name(i) for i in range(self.units))
        return """/* app/main.c: generated by bench/gen_synth.py */
#include <stdio.h>
#include "common.h"

%(decls)s
static int (*const units[])(void) = {
%(table)s};

int main(void) {
    uint64_t s = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        s = s * 1000003u + (uint64_t)units[i]();
    printf("%%llu\\n", (unsigned long long)s);
    return 0;
}
""" % {"decls": decls, "table": table}

    # -- build files -------------------------------------------------------
    def kiln_yml(self):
        return """# Generated by bench/gen_synth.py: %(n)d units -> libsynth.a -> bin/synth
default: [link]

env:
  CC: cc
  CFLAGS: %(cflags)s

tasks:
  compile:
    foreach: src/**/*.c
    outputs: build/{dir}/{stem}.o
    depfile: build/{dir}/{stem}.d
    run: $CC $CFLAGS -Iinclude -MD -MF build/{dir}/{stem}.d -c {in} -o {out}

  compile-main:
    inputs: app/main.c
    outputs: build/app/main.o
    depfile: build/app/main.d
    run: $CC $CFLAGS -Iinclude -MD -MF build/app/main.d -c {in} -o {out}

  archive:
    inputs: build/src/**/*.o
    outputs: build/libsynth.a
    run: rm -f {out} && ar rcs {out} {in}

  link:
    inputs: [build/app/main.o, build/libsynth.a]
    outputs: bin/synth
    run: $CC $CFLAGS -o {out} {in}
""" % {"n": self.units, "cflags": CFLAGS}

    def build_ninja(self):
        out = ["# Generated by bench/gen_synth.py: the same build as kiln.yml",
               "cc = cc", "cflags = %s" % CFLAGS, "",
               "rule cc",
               "  command = $cc $cflags -Iinclude -MD -MF $dep -c $in -o $out",
               "  depfile = $dep", "  deps = gcc", "  description = CC $out", "",
               "rule ar", "  command = rm -f $out && ar rcs $out $in",
               "  description = AR $out", "",
               "rule link", "  command = $cc $cflags -o $out $in",
               "  description = LINK $out", ""]
        objs = []
        # kiln's {in} lists glob matches sorted by path; so does this.
        for i in sorted(range(self.units), key=self.unit_path):
            o = self.unit_object(i)
            objs.append(o)
            out.append("build %s: cc %s" % (o, self.unit_path(i)))
            out.append("  dep = %s.d" % o[:-2])
        out.append("build build/app/main.o: cc app/main.c")
        out.append("  dep = build/app/main.d")
        out.append("build build/libsynth.a: ar " + " ".join(sorted(objs)))
        out.append("build bin/synth: link build/app/main.o build/libsynth.a")
        out.append("default bin/synth")
        return "\n".join(out) + "\n"

    def write(self, root):
        def put(rel, text):
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        put("include/config.h", self.config_h())
        put("include/common.h", self.common_h())
        put("include/util.h", self.util_h())
        for m in range(MODULES):
            put("include/mod/m%02d.h" % m, self.module_h(m))
        for i in range(self.units):
            put(self.unit_path(i), self.unit_c_source(i))
        put("app/main.c", self.main_c())
        put("kiln.yml", self.kiln_yml())
        put("build.ninja", self.build_ninja())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20240611)
    a = ap.parse_args()
    s = Synth(a.units, a.seed)
    s.write(a.dir)
    print("expected checksum: %d" % s.checksum())


if __name__ == "__main__":
    main()
