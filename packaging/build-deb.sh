#!/usr/bin/env bash
# Builds hamlet's Debian package with dpkg-deb:
#   bash packaging/build-deb.sh [OUTDIR]      → OUTDIR/hamlet_VERSION_ARCH.deb
# VERSION (env) defaults to 0.1.0+git<commit time, to the second>.<commit>
# (later commits sort higher); ARCH to dpkg's.
# The package: /usr/bin/hamlet, /etc/hamlet/hamlet.toml (conffile), the
# systemd unit, a "hamlet" system user made in postinst, /var/lib/hamlet.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.}
mkdir -p "$out"
out=$(cd "$out" && pwd)
arch=${ARCH:-$(dpkg --print-architecture)}
case "$arch" in
amd64 | arm64 | riscv64 | s390x | ppc64le) goarch=$arch ;;
i386) goarch=386 ;;
armhf) goarch=arm ;;
*) echo "build-deb: no Go architecture for $arch" >&2; exit 1 ;;
esac
if [ -z "${VERSION:-}" ]; then
	rev=$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)
	when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null || date -u +%Y%m%d%H%M%S)
	VERSION="0.1.0+git${when}.${rev}"
fi
root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/bin" "$root/etc/hamlet" "$root/lib/systemd/system" "$root/usr/share/doc/hamlet"
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath -ldflags "-s -w" -o "$root/usr/bin/hamlet" ./cmd/hamlet
install -m 0644 packaging/hamlet.toml "$root/etc/hamlet/hamlet.toml"
install -m 0644 packaging/hamlet.service "$root/lib/systemd/system/hamlet.service"
install -m 0644 README.md hamlet.example.toml "$root/usr/share/doc/hamlet/"
install -m 0644 frontend/README.md "$root/usr/share/doc/hamlet/MTA.md"
# Dovecot IMAPSieve learning (README: "Learning from your users"): copied
# into /etc/dovecot by the admin, not installed there.
install -d "$root/usr/share/hamlet/dovecot"
install -m 0644 packaging/dovecot/*.sieve packaging/dovecot/*.conf "$root/usr/share/hamlet/dovecot/"
install -m 0755 packaging/dovecot/hamlet-learn "$root/usr/share/hamlet/dovecot/"
for s in postinst prerm postrm; do
	install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
echo /etc/hamlet/hamlet.toml > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: hamlet
Version: $VERSION
Architecture: $arch
Maintainer: hamlet developers <hamlet@localhost>
Installed-Size: $size
Depends: adduser
Suggests: redis-server
Section: mail
Priority: optional
Homepage: https://github.com/hamlet-mail/hamlet
Description: mail filter for self-hosted mail servers
 One daemon beside Postfix, OpenSMTPD or Sendmail that DKIM-signs outgoing
 mail, checks incoming mail (rDNS/FCrDNS, Senderscore, SPF, DKIM, DMARC,
 ARC, DNS lists, late selective greylisting) with rspamd's symbols and
 protocol, and keeps nothing but verdicts. Replaces rspamd, OpenDKIM,
 OpenDMARC, postgrey and the OpenSMTPD filters.
CONTROL
deb="$out/hamlet_${VERSION}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
