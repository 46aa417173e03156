#!/usr/bin/python3
"""Verify DKIM signatures with dkimpy (Debian python3-dkim) for hamlet's
signing tests, asking a DNS server on a given port for the key records.

  dkimpy_verify.py HOST PORT FILE...
      For every DKIM-Signature of every FILE (top first) print
      "FILE<TAB>INDEX<TAB>pass|fail|error<TAB>detail".
"""
import sys

import dkim
import dns.resolver


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [sys.argv[1]]
    res.port = int(sys.argv[2])
    res.lifetime = 5

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        try:
            ans = res.resolve(name, "TXT")
        except Exception:
            return None
        for rr in ans:
            return b"".join(rr.strings)
        return None

    for path in sys.argv[3:]:
        with open(path, "rb") as f:
            msg = f.read()
        d = dkim.DKIM(msg, minkey=1024)
        n = sum(1 for (k, _) in d.headers if k.lower() == b"dkim-signature")
        for i in range(n):
            try:
                ok = d.verify(idx=i, dnsfunc=dnsfunc)
                print("%s\t%d\t%s\t" % (path, i, "pass" if ok else "fail"))
            except Exception as e:  # dkimpy signals bad input by exceptions
                detail = str(e).replace("\t", " ").replace("\n", " ")
                print("%s\t%d\terror\t%s: %s" % (path, i, type(e).__name__, detail))


if __name__ == "__main__":
    main()
