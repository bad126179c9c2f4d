#!/usr/bin/env bash
# Install the Debian packages that the build, the tests and the demo need.
# Idempotent: does nothing (no apt-get update) when everything is present.
set -euo pipefail
pkgs=(build-essential pkg-config libssl-dev libgit2-dev libyaml-dev zlib1g-dev libcriterion-dev
      dovecot-imapd dovecot-core openssl git ca-certificates python3 procps util-linux bsdutils notmuch mblaze neomutt man-db strace time)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]} (run 'make deps' as root)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
