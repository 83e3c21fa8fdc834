#!/usr/bin/env bash
# The Debian package, built, installed and started as a user's machine would have it:
#   1. packages the build under test when it has the /usr prefix (scripts/build.sh --tests
#      configures it so: nothing is compiled again); any other build gets a build of its own with
#      the /usr prefix (Release, no tests) of what the package holds: hooklessd, hooklessctl, the
#      man pages and the shell completions;
#   2. `cpack -G DEB`, and checks the files, maintainer scripts, conffiles and dependencies;
#   3. installs it with `dpkg -i` into a throwaway root: an overlay of / in a private mount
#      namespace (`unshare --mount`), so the machine itself is not changed; the postinst creates
#      the hookless user and directories (sysusers.d, tmpfiles.d) there;
#   4. checks the packaged config (`hooklessd --check-config`), points it at a fake Extend API
#      started here, and starts /usr/bin/hooklessd in that root as the hookless user, with the API
#      key as the systemd credential, as hookless.service does; then health answers on the packaged
#      socket, a run registered with hooklessctl is delivered, SIGTERM stops it with exit 0;
#   5. `dpkg --purge` removes it again.
# Root is needed (mount, chroot, dpkg); without it, or without a tool, the test fails.
#   deb-install-test.sh SOURCE_DIR BUILD_DIR INSTALL_PREFIX WORK_DIR FAKE_EXTEND [COMPILER_LAUNCHER]
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }

if [[ ${1:-} == --inside ]]; then
  # Step 3-5, in the private mount namespace: everything mounted here vanishes with it.
  shift
  deb=$1 scratch=$2 fake_url=$3 fake_ca=$4
  api_key=sk_test_hookless  # the key the fake Extend API accepts
  mount -t tmpfs -o mode=0755 tmpfs "$scratch"
  mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root" ||
    fail "cannot mount an overlay of / (overlayfs)"
  root=$scratch/root
  mount --rbind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"  # no /run/systemd/system: the postinst skips systemctl
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  in_root() { chroot "$root" "$@"; }
  daemon=""
  trap '[[ -z $daemon ]] || kill -KILL "$daemon" 2>/dev/null || true' EXIT

  echo "== dpkg -i $(basename "$deb") in a throwaway root"
  cp "$deb" "$root/tmp/hookless.deb"
  in_root dpkg -i /tmp/hookless.deb >"$root/tmp/dpkg.log" 2>&1 || { cat "$root/tmp/dpkg.log"; fail "dpkg -i failed"; }
  in_root dpkg-query -W -f='${Status}\n' hookless | grep -qx "install ok installed" || fail "hookless is not installed"

  echo "== what the postinst made"
  uid=$(in_root id -u hookless) || fail "the postinst made no hookless user"
  gid=$(in_root id -g hookless)
  in_root getent group hookless >/dev/null || fail "the postinst made no hookless group"
  [[ $(in_root stat -c '%U:%G %a' /var/lib/hookless) == "hookless:hookless 700" ]] ||
    fail "/var/lib/hookless is $(in_root stat -c '%U:%G %a' /var/lib/hookless), not hookless:hookless 700"
  [[ $(in_root stat -c '%U:%G' /run/hookless) == "hookless:hookless" ]] || fail "/run/hookless is not the hookless user's"
  for f in /usr/bin/hooklessd /usr/bin/hooklessctl /etc/hookless/hookless.yaml /usr/lib/systemd/system/hookless.service; do
    [[ -e $root$f ]] || fail "$f is not installed"
  done
  in_root /usr/bin/hooklessd --version

  echo "== the packaged config, checked as the hookless user"
  in_root setpriv --reuid="$uid" --regid="$gid" --init-groups /usr/bin/hooklessd --check-config ||
    fail "hooklessd --check-config rejects the packaged /etc/hookless/hookless.yaml"

  echo "== hooklessd started as hookless.service starts it, against the fake Extend API at $fake_url"
  # The packaged config, pointed at the fake Extend API and trusting its CA.
  cp "$fake_ca" "$root/etc/hookless/fake-extend-ca.pem"
  chmod 0644 "$root/etc/hookless/fake-extend-ca.pem"
  sed -i "s|^  base_url: https://api.extend.ai\$|  base_url: $fake_url\n  ca_file: /etc/hookless/fake-extend-ca.pem|" \
    "$root/etc/hookless/hookless.yaml"
  grep -q "base_url: $fake_url" "$root/etc/hookless/hookless.yaml" || fail "the packaged config has no extend.base_url line to change"
  # The API key where the docs say to put it, handed over as LoadCredential= does.
  install -m 0600 /dev/stdin "$root/etc/hookless/extend-api-key" <<<"$api_key"
  install -d -m 0500 -o "$uid" -g "$gid" "$root/run/credentials/hookless.service"
  install -m 0400 -o "$uid" -g "$gid" "$root/etc/hookless/extend-api-key" "$root/run/credentials/hookless.service/extend-api-key"
  (
    umask 0077
    exec chroot "$root" setpriv --reuid="$uid" --regid="$gid" --init-groups \
      env -i PATH=/usr/bin:/bin CREDENTIALS_DIRECTORY=/run/credentials/hookless.service \
      HOOKLESS_CONFIG=/etc/hookless/hookless.yaml /usr/bin/hooklessd --config /etc/hookless/hookless.yaml
  ) >"$root/tmp/hooklessd.out" 2>"$root/tmp/hooklessd.err" &
  daemon=$!
  # health: 0 ok, 1 degraded (answered, the key check may still be on its way), 2 unreachable.
  health=2
  for _ in $(seq 150); do
    kill -0 "$daemon" 2>/dev/null || { cat "$root/tmp/hooklessd.err"; fail "hooklessd exited at start"; }
    health=0; in_root hooklessctl health >/dev/null 2>&1 || health=$?
    ((health == 0)) && break
    sleep 0.2
  done
  if ((health != 0)); then
    cat "$root/tmp/hooklessd.err"; in_root hooklessctl health || true
    fail "hooklessd did not answer health ok on /run/hookless/hookless.sock within 30 s (last exit $health)"
  fi
  in_root hooklessctl health
  [[ $(awk '/^Uid:/ {print $2}' "/proc/$daemon/status") == "$uid" ]] || fail "hooklessd does not run as the hookless user"
  [[ $(awk '/^Gid:/ {print $2}' "/proc/$daemon/status") == "$gid" ]] || fail "hooklessd does not run in the hookless group"
  [[ $(in_root stat -c '%U %a' /var/lib/hookless/state.db) == "hookless 600" ]] ||
    fail "the state file is $(in_root stat -c '%U %a' /var/lib/hookless/state.db), not the hookless user's with mode 600"
  [[ -S $root/run/hookless/hookless.sock ]] || fail "no control socket at /run/hookless/hookless.sock"

  echo "== a run registered through the packaged socket is delivered to the packaged stdout sink"
  in_root hooklessctl watch exr_deb_install || fail "hooklessctl watch failed"
  in_root hooklessctl wait exr_deb_install --timeout 60s >/dev/null || fail "the run was not delivered as processed"
  # The run is finished once its event is recorded; the sink takes it a moment later.
  for _ in $(seq 100); do
    grep -q '"eventType":"extract_run.processed"' "$root/tmp/hooklessd.out" && break
    sleep 0.1
  done
  grep -q '"eventType":"extract_run.processed"' "$root/tmp/hooklessd.out" || fail "the stdout sink printed no event in 10 s"
  kill -TERM "$daemon"
  code=0; wait "$daemon" || code=$?
  daemon=""
  ((code == 0)) || { cat "$root/tmp/hooklessd.err"; fail "hooklessd exited $code after SIGTERM"; }
  ! grep -qF "$api_key" "$root/tmp/hooklessd.err" "$root/tmp/hooklessd.out" || fail "the API key shows in the output"

  echo "== dpkg --purge"
  in_root dpkg --purge hookless >"$root/tmp/dpkg.log" 2>&1 || { cat "$root/tmp/dpkg.log"; fail "dpkg --purge failed"; }
  [[ ! -e $root/usr/bin/hooklessd && ! -e $root/etc/hookless/hookless.yaml ]] || fail "dpkg --purge left the programs or the conffile"
  exit 0
fi

source_dir=$1 tested_build=$2 tested_prefix=$3 work=$4 fake_extend=$5 launcher=${6:-}
[[ $(id -u) == 0 ]] || fail "needs root: it mounts an overlay of / and runs dpkg there (CI runs as root)"
for tool in cpack dpkg-deb dpkg-shlibdeps unshare chroot setpriv; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh --tests installs it)"
done
[[ -x $fake_extend ]] || fail "$fake_extend is not built"

if [[ $tested_prefix == /usr ]]; then
  echo "== the build under test ($tested_build) has the /usr prefix: it is packaged as it is"
  package_build=$tested_build
else
  package_build=$work/build
  echo "== the build under test has the prefix $tested_prefix: a build of its own with /usr in $package_build"
  # Release, without the tests: only what the package holds. ccache (when the main build uses it)
  # is told to ignore the build folder's name, so a second run of this test compiles nothing.
  export CCACHE_BASEDIR=$source_dir CCACHE_NOHASHDIR=true
  cmake -S "$source_dir" -B "$package_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DBUILD_TESTING=OFF -DHOOKLESS_BUILD_BENCH=OFF -DHOOKLESS_MAN_PAGES=ON \
    ${launcher:+"-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher"} >/dev/null
  nice -n 10 cmake --build "$package_build" -j 2 --target hooklessd hooklessctl hookless_man hooklessctl_completions \
    >"$work/build.log" 2>&1 || { tail -n 50 "$work/build.log"; fail "the build failed"; }
fi

echo "== cpack -G DEB"
rm -rf "$work/deb"
mkdir -p "$work"
(cd "$package_build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/deb/hookless_*.deb)
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/hooklessd ./usr/bin/hooklessctl ./usr/lib/systemd/system/hookless.service \
         ./usr/lib/systemd/system/hookless.socket ./usr/lib/sysusers.d/hookless.conf \
         ./usr/lib/tmpfiles.d/hookless.conf ./etc/hookless/hookless.yaml \
         ./usr/share/man/man8/hooklessd.8 ./usr/share/man/man1/hooklessctl.1 ./usr/share/man/man5/hookless.yaml.5 \
         ./usr/share/doc/hookless/hookless.example.yaml ./usr/share/doc/hookless/docs/configuration.md \
         ./usr/share/bash-completion/completions/hooklessctl ./usr/share/zsh/vendor-completions/_hooklessctl \
         ./usr/share/fish/vendor_completions.d/hooklessctl.fish; do
  grep -q " $f\$" <<<"$contents" || fail "$f is not in the .deb"
done
info=$(dpkg-deb -I "$deb")
for part in postinst prerm postrm conffiles "Depends:.*libboost-json" "Depends:.*systemd"; do
  grep -q "$part" <<<"$info" || fail "the .deb lacks $part"
done
echo "$(basename "$deb") holds what it should"

fake_dir=$(mktemp -d -t hookless-deb-fake.XXXXXX)
scratch=$(mktemp -d -t hookless-deb-root.XXXXXX)
fake=""
trap '[[ -z $fake ]] || kill "$fake" 2>/dev/null || true; rm -rf "$fake_dir"; rmdir "$scratch" 2>/dev/null || true' EXIT
"$fake_extend" --quiet --auto-finish-after-ms 500 --ca-out "$fake_dir/ca.pem" --ready-file "$fake_dir/url" \
  >/dev/null 2>"$fake_dir/fake.log" &
fake=$!
for _ in $(seq 100); do [[ -s $fake_dir/url ]] && break; sleep 0.1; done
[[ -s $fake_dir/url ]] || { cat "$fake_dir/fake.log"; fail "the fake Extend API did not start"; }

unshare --mount --propagation private "$0" --inside "$deb" "$scratch" "$(cat "$fake_dir/url")" "$fake_dir/ca.pem"
echo "deb install OK"
