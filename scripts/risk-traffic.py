#!/usr/bin/env python3
"""Labelled login traffic in the RBA dataset schema (Wiefling et al.), for tuning and checking
`trustplane risk replay`. Legitimate users have homes, mobile networks, travel and new
devices; attackers do credential stuffing, password spray, VPN hopping, and targeted
takeovers by people who know the victim's country and browser. Deterministic for a seed.

    python3 scripts/risk-traffic.py --users 2000 --days 60 --seed 7 > traffic.csv
    trustplane risk replay traffic.csv --warmup-days 14
"""
import argparse, csv, random, sys
from datetime import datetime, timedelta

COUNTRIES = [  # country, cities, home ASNs (ISPs), mobile ASN
    ("DE", ["Berlin", "Munich", "Hamburg"], [3320, 3209, 6830], 6805),
    ("FR", ["Paris", "Lyon", "Lille"], [3215, 12322, 5410], 15557),
    ("US", ["New York", "Austin", "Seattle"], [7922, 701, 7018], 21928),
    ("GB", ["London", "Leeds", "Bristol"], [2856, 5089, 5607], 12576),
    ("BR", ["Sao Paulo", "Rio de Janeiro"], [28573, 18881], 26599),
    ("IN", ["Mumbai", "Delhi", "Bangalore"], [9829, 24560], 45609),
    ("NO", ["Oslo", "Bergen"], [2119, 29695], 12929),
]
BROWSERS = ["Chrome {}.0.4430", "Firefox {}.0", "Safari {}.1", "Edge {}.0.864", "Chrome Mobile {}.0.4430"]
OSES = ["Windows 10", "Mac OS X 10.15.7", "Linux", "iOS 14.4", "Android 11", "Chrome OS 13904"]
HOSTING = [16509, 14061, 24940, 16276, 63949]  # cloud and VPS providers
VPN = [9009, 20473, 51167]


def ip(asn, rnd):
    return f"{(asn % 200) + 10}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    rnd = random.Random(a.seed)
    start = datetime(2026, 1, 1)
    users = []
    for u in range(a.users):
        c = rnd.choice(COUNTRIES)
        desktop = (rnd.choice(BROWSERS[:4]).format(rnd.randrange(80, 120)), rnd.choice(OSES[:3]), "desktop")
        phone = (BROWSERS[4].format(rnd.randrange(80, 120)) if rnd.random() < 0.6 else BROWSERS[2].format(14),
                 rnd.choice(OSES[3:5]), "mobile")
        users.append({
            "id": str(-(10**12) + u * 7919), "country": c, "city": rnd.choice(c[1]),
            "asn": rnd.choice(c[2]), "home_ip": None, "desktop": desktop, "phone": phone,
            "rate": rnd.choice([0.3, 1, 2, 4]),
        })
    for u in users:
        u["home_ip"] = ip(u["asn"], rnd)
    rows = []

    def add(t, user, ipaddr, country, city, asn, ua, ok, attack_ip, ato):
        rows.append([t, user, ipaddr, country, city, asn, ua, ok, attack_ip, ato])

    for u in users:
        t = start + timedelta(hours=rnd.uniform(0, 24))
        travel_until = None
        while t < start + timedelta(days=a.days):
            r = rnd.random()
            c = u["country"]
            if travel_until and t < travel_until:
                country, city, asn = u["trip"]
                addr = ip(asn, rnd)
            elif r < 0.55:
                country, city, asn, addr = c[0], u["city"], u["asn"], u["home_ip"]
            elif r < 0.85:
                country, city, asn, addr = c[0], rnd.choice(c[1]), c[3], ip(c[3], rnd)
            elif r < 0.88:
                dest = rnd.choice(COUNTRIES)
                u["trip"] = (dest[0], rnd.choice(dest[1]), dest[3])
                travel_until = t + timedelta(days=rnd.uniform(2, 10))
                country, city, asn = u["trip"]
                addr = ip(asn, rnd)
            else:
                country, city, asn, addr = c[0], u["city"], u["asn"], ip(u["asn"], rnd)
            ua = u["phone"] if asn == c[3] or rnd.random() < 0.2 else u["desktop"]
            if rnd.random() < 0.01:  # a new laptop
                u["desktop"] = (rnd.choice(BROWSERS[:4]).format(rnd.randrange(80, 120)), rnd.choice(OSES[:3]), "desktop")
            ok = rnd.random() > 0.04
            add(t, u["id"], addr, country, city, asn, ua, ok, False, False)
            t += timedelta(hours=rnd.expovariate(u["rate"] / 24))

    # Credential stuffing: few hosting addresses, many accounts (most unknown), few successes.
    for _ in range(a.days // 3):
        t0 = start + timedelta(days=rnd.uniform(0, a.days))
        for _ in range(rnd.randrange(2, 6)):
            asn = rnd.choice(HOSTING)
            addr = ip(asn, rnd)
            ua = (BROWSERS[0].format(rnd.randrange(70, 90)), OSES[0], "desktop")
            for k in range(rnd.randrange(20, 80)):
                victim = rnd.choice(users) if rnd.random() < 0.3 else None
                user = victim["id"] if victim else str(rnd.randrange(10**9))
                ok = bool(victim) and rnd.random() < 0.05
                add(t0 + timedelta(seconds=k * rnd.uniform(1, 20)), user, addr, "US", "Ashburn", asn, ua,
                    ok, True, ok)
    # Password spray from VPN exits: many known accounts, one try each.
    for _ in range(a.days // 5):
        t0 = start + timedelta(days=rnd.uniform(0, a.days))
        asn = rnd.choice(VPN)
        for k, v in enumerate(rnd.sample(users, min(60, len(users)))):
            ok = rnd.random() < 0.02
            add(t0 + timedelta(seconds=k * 30), v["id"], ip(asn, rnd), rnd.choice(COUNTRIES)[0], "Unknown", asn,
                (BROWSERS[1].format(91), OSES[2], "desktop"), ok, True, ok)
    # Targeted takeovers: the attacker knows the victim's country and browser.
    for v in rnd.sample(users, max(1, len(users) // 100)):
        t0 = start + timedelta(days=rnd.uniform(a.days / 3, a.days))
        asn = rnd.choice(v["country"][2] + [rnd.choice(VPN)])
        addr = ip(asn, rnd)
        for k in range(rnd.randrange(1, 3)):
            add(t0 + timedelta(minutes=k), v["id"], addr, v["country"][0], rnd.choice(v["country"][1]), asn,
                v["desktop"], k > 0 or rnd.random() < 0.7, False, True)

    rows.sort(key=lambda r: r[0])
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["index", "Login Timestamp", "User ID", "Round-Trip Time [ms]", "IP Address", "Country", "Region",
                "City", "ASN", "User Agent String", "Browser Name and Version", "OS Name and Version",
                "Device Type", "Login Successful", "Is Attack IP", "Is Account Takeover"])
    for i, (t, user, addr, country, city, asn, ua, ok, attack_ip, ato) in enumerate(rows):
        w.writerow([i, t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], user, "", addr, country, "-", city, asn,
                    f"Mozilla/5.0 ({ua[1]}) {ua[0]}", ua[0], ua[1], ua[2], ok, attack_ip, ato])


if __name__ == "__main__":
    main()
