#!/usr/bin/env python3
"""The size rules of docs/architecture.md: no hand-written Rust file over 700 lines, no function
over 100 lines (from its `fn` line to its closing brace, comments included). Strings, chars and
comments are blanked before braces are counted. Exits 1 and names every offender.

Usage: python3 scripts/check-sizes.py [DIR ...]   (default: crates)
"""
import os
import re
import sys
def strip(src):
    out=[];i=0;n=len(src)
    while i<n:
        c=src[i]
        if src.startswith('//',i):
            j=src.find('\n',i); j=n if j<0 else j; out.append(' '*(j-i)); i=j; continue
        if src.startswith('/*',i):
            j=src.find('*/',i+2); j=n if j<0 else j+2
            out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j; continue
        m=re.match(r'b?r(#*)"',src[i:i+10])
        if m and (i==0 or not (src[i-1].isalnum() or src[i-1]=='_')):
            hashes=m.group(1); end='"'+hashes; j=src.find(end,i+len(m.group(0)))
            j=n if j<0 else j+len(end); out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j; continue
        if c=='"':
            j=i+1
            while j<n and src[j]!='"':
                j+= 2 if src[j]=='\\' else 1
            j+=1; out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j; continue
        if c=="'":
            m=re.match(r"'(\\.[^']*|[^\\'])'",src[i:i+12])
            if m: out.append(' '*len(m.group(0))); i+=len(m.group(0)); continue
        out.append(c); i+=1
    return ''.join(out)

MAX_FILE, MAX_FN = 700, 100


def offenders(roots):
    out = []
    for root in roots:
        for dp, _, fns in os.walk(root):
            if "target" in dp.split(os.sep):
                continue
            for f in sorted(fns):
                if not f.endswith(".rs"):
                    continue
                p = os.path.join(dp, f)
                text = open(p, encoding="utf-8").read()
                n = text.count("\n")
                if n > MAX_FILE:
                    out.append(f"{p}: {n} lines (at most {MAX_FILE})")
                lines = strip(text).split("\n")
                for k, line in enumerate(lines):
                    m = re.match(r"\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)", line)
                    if not m:
                        continue
                    depth, started, end = 0, False, None
                    for e in range(k, len(lines)):
                        for ch in lines[e]:
                            if ch == "{":
                                depth, started = depth + 1, True
                            elif ch == "}":
                                depth -= 1
                            elif ch == ";" and not started and depth == 0:
                                end = -1
                                break
                        if end == -1 or (started and depth == 0):
                            end = e if end is None else end
                            break
                    if started and end is not None and end >= 0 and end - k + 1 > MAX_FN:
                        out.append(f"{p}:{k + 1}: fn {m.group(6)} is {end - k + 1} lines (at most {MAX_FN})")
    return out


if __name__ == "__main__":
    found = offenders(sys.argv[1:] or ["crates"])
    for o in found:
        print(o)
    sys.exit(1 if found else 0)
