#!/usr/bin/env bash
# Checks what an operator installs: the systemd units verify and score at most 1.5 in
# `systemd-analyze security --offline=true`; `cmake --install` puts programs, units,
# sysusers/tmpfiles, the config, docs and man pages where they belong; and the installed config is
# valid. The .deb is built, installed and started by scripts/deb-install-test.sh (ctest deb_install).
#   packaging-test.sh BUILD_DIR PREFIX SYSCONFDIR
set -euo pipefail
build=$1 prefix=$2 sysconf=$3
root=$(cd "$(dirname "$0")/.." && pwd)
stage=$(mktemp -d -t hookless-install.XXXXXX)
trap 'rm -rf "$stage"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== exposure of hookless.service (must be <= 1.5)"
systemd-analyze security --offline=true --threshold=15 "$root/systemd/hookless.service" | tail -1 ||
  fail "hookless.service scores above 1.5"

echo "== cmake --install into $stage"
DESTDIR=$stage cmake --install "$build" >/dev/null
for f in "$prefix/bin/hooklessd" "$prefix/bin/hooklessctl" \
         "$prefix/lib/systemd/system/hookless.service" "$prefix/lib/systemd/system/hookless.socket" \
         "$prefix/lib/sysusers.d/hookless.conf" "$prefix/lib/tmpfiles.d/hookless.conf" \
         "$sysconf/hookless/hookless.yaml" "$prefix/share/doc/hookless/hookless.example.yaml" \
         "$prefix/share/doc/hookless/README.md" \
         "$prefix/share/doc/hookless/monitoring/alerts.yml" "$prefix/share/doc/hookless/monitoring/grafana-dashboard.json" \
         "$prefix/share/man/man8/hooklessd.8" "$prefix/share/man/man1/hooklessctl.1" \
         "$prefix/share/man/man5/hookless.yaml.5" "$prefix/share/doc/hookless/docs/configuration.md" \
         "$prefix/share/bash-completion/completions/hooklessctl" "$prefix/share/zsh/vendor-completions/_hooklessctl" \
         "$prefix/share/fish/vendor_completions.d/hooklessctl.fish"; do
  [[ -f "$stage$f" ]] || fail "$f was not installed"
done
[[ -x "$stage$prefix/bin/hooklessd" ]] || fail "hooklessd is not executable"
grep -q -- "--check-config" "$stage$prefix/share/man/man8/hooklessd.8" || fail "the man page lacks the flags"
"$stage$prefix/bin/hooklessd" --check-config --config "$stage$sysconf/hookless/hookless.yaml" ||
  fail "the installed config is not valid"

echo "== systemd-analyze verify of the installed units"
# The units name /usr/bin/hooklessd; point a copy at the staged binary so verify can check it.
units=$(mktemp -d -t hookless-units.XXXXXX)
trap 'rm -rf "$stage" "$units"' EXIT
for u in hookless.service hookless.socket; do
  sed "s|/usr/bin/hooklessd|$stage$prefix/bin/hooklessd|" "$stage$prefix/lib/systemd/system/$u" >"$units/$u"
done
verify=$(cd "$units" && systemd-analyze verify ./hookless.service ./hookless.socket 2>&1) || true
if grep -v -e "^$" <<<"$verify" | grep -q .; then fail "systemd-analyze verify: $verify"; fi

echo "packaging OK"
