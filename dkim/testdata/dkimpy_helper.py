#!/usr/bin/python3
"""Drive dkimpy (Debian python3-dkim) for hamlet's cross-check tests.

  dkimpy_helper.py verify DNS.json FILE...
      For every DKIM-Signature of every FILE (top first) print
      "FILE<TAB>INDEX<TAB>pass|fail|error<TAB>detail". DNS answers come
      from DNS.json: {"sel._domainkey.example.com": ["v=DKIM1; ..."]}.
  dkimpy_helper.py sign JOBS.json
      JOBS.json is a list of {"key", "selector", "domain", "hcanon",
      "bcanon", "alg", "message", "out"}: sign each message file and write
      the DKIM-Signature field dkimpy makes to "out" (alg: rsa-sha256 |
      ed25519-sha256; an ed25519 key file holds the base64 32-byte seed,
      an RSA one a PEM key). One process for all jobs: python starts slowly.
  dkimpy_helper.py arcverify DNS.json FILE...
      For every FILE print "FILE<TAB>cv<TAB>reason" from dkimpy's ARC
      chain validation (cv: pass, fail, none).
  dkimpy_helper.py arcsign JOBS.json
      JOBS.json is a list of {"key", "selector", "domain", "srvid",
      "headers", "timestamp", "message", "out"}: write the ARC set dkimpy
      adds (needs python3-authres) to "out".
"""
import json
import sys

import dkim


def load_dns(dns_path):
    with open(dns_path) as f:
        records = json.load(f)

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        vals = records.get(name.rstrip(".").lower())
        if not vals:
            return None
        return vals[0].encode()
    return dnsfunc


def verify(dns_path, files):
    dnsfunc = load_dns(dns_path)

    for path in files:
        with open(path, "rb") as f:
            msg = f.read()
        d = dkim.DKIM(msg, minkey=1024)
        n = sum(1 for (k, _) in d.headers if k.lower() == b"dkim-signature")
        for i in range(n):
            try:
                ok = d.verify(idx=i, dnsfunc=dnsfunc)
                print("%s\t%d\t%s\t" % (path, i, "pass" if ok else "fail"))
            except Exception as e:  # dkimpy signals invalid input by exceptions
                detail = str(e).replace("\t", " ").replace("\n", " ")
                print("%s\t%d\terror\t%s: %s" % (path, i, type(e).__name__, detail))


def sign(jobs_path):
    with open(jobs_path) as f:
        jobs = json.load(f)
    for job in jobs:
        with open(job["message"], "rb") as f:
            msg = f.read()
        with open(job["key"], "rb") as f:
            key = f.read().strip()
        sig = dkim.sign(msg, job["selector"].encode(), job["domain"].encode(), key,
                        canonicalize=(job["hcanon"].encode(), job["bcanon"].encode()),
                        signature_algorithm=job["alg"].encode())
        with open(job["out"], "wb") as f:
            f.write(sig)


def arcverify(dns_path, files):
    dnsfunc = load_dns(dns_path)
    for path in files:
        with open(path, "rb") as f:
            msg = f.read()
        cv, _, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc)
        cv = (cv or b"fail").decode() if isinstance(cv, bytes) else str(cv or "fail")
        print("%s\t%s\t%s" % (path, cv.lower(), str(reason).replace("\t", " ").replace("\n", " ")))


def arcsign(jobs_path):
    with open(jobs_path) as f:
        jobs = json.load(f)
    for job in jobs:
        with open(job["message"], "rb") as f:
            msg = f.read()
        with open(job["key"], "rb") as f:
            key = f.read()
        lines = dkim.arc_sign(msg, job["selector"].encode(), job["domain"].encode(), key,
                              job["srvid"].encode(),
                              include_headers=[h.encode() for h in job["headers"]],
                              timestamp=job["timestamp"])
        with open(job["out"], "wb") as f:
            f.write(b"".join(lines))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "sign":
        sign(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "arcverify":
        arcverify(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "arcsign":
        arcsign(sys.argv[2])
    else:
        sys.exit(__doc__)
