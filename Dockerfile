# hookless as a container image. Two stages: the build on Debian 12 with every -dev package, then a
# debian:bookworm-slim runtime with only the shared libraries the two programs link against.
#
#   podman build --format docker -t hookless .     # or: docker build -t hookless .
#   podman run -d --name hookless -e EXTEND_API_KEY=sk_... \
#     -v hookless-state:/var/lib/hookless -v hookless-run:/run/hookless hookless
#   podman run --rm -v hookless-run:/run/hookless --entrypoint hooklessctl hookless health
#
# --format docker (or BUILDAH_FORMAT=docker): podman builds OCI images by default, and the OCI image
# format has no HEALTHCHECK, so podman drops it with a warning. docker build keeps it.
#
# The control socket lives in the /run/hookless volume so that applications in other containers
# can mount it; the state (SQLite) lives in the /var/lib/hookless volume and survives the container.
# Mount your own /etc/hookless/hookless.yaml to change sinks; the API key may also come as a file
# (extend.api_key_file) or a mounted credential ($CREDENTIALS_DIRECTORY/extend-api-key).

FROM debian:bookworm-slim AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
      libspdlog-dev libfmt-dev libyaml-cpp-dev libssl-dev libsqlite3-dev libsystemd-dev libcli11-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
# -j2, no tests and no man pages (the image has no man): one Beast + TLS translation unit needs
# ~800 MB to compile. The user's default options (warnings are not errors), as any Release build.
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DHOOKLESS_MAN_PAGES=OFF -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build /build -j2 \
 && DESTDIR=/out cmake --install /build \
 && /out/usr/bin/hooklessd --version

FROM debian:bookworm-slim
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libboost-json1.81.0 libboost-url1.81.0 libspdlog1.10 libfmt9 libyaml-cpp0.7 \
      libssl3 libsqlite3-0 libsystemd0 libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hookless \
 && useradd --system --uid 10001 --gid hookless --home-dir /var/lib/hookless --shell /usr/sbin/nologin hookless \
 && install -d -o hookless -g hookless -m 0700 /var/lib/hookless \
 && install -d -o hookless -g hookless -m 0755 /run/hookless
COPY --from=build /out/usr/bin/hooklessd /out/usr/bin/hooklessctl /usr/bin/
COPY --from=build /out/etc/hookless/hookless.yaml /etc/hookless/hookless.yaml
ENV HOOKLESS_CONFIG=/etc/hookless/hookless.yaml \
    HOOKLESS_SOCKET=/run/hookless/hookless.sock
USER hookless:hookless
VOLUME ["/var/lib/hookless", "/run/hookless"]
# hooklessctl health: 0 healthy, 1 degraded, 2 daemon unreachable; only "unreachable" is unhealthy
# for the container (a degraded API or sink is the daemon doing its job: retrying).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/bin/sh", "-c", "/usr/bin/hooklessctl health >/dev/null; test $? -ne 2"]
ENTRYPOINT ["/usr/bin/hooklessd"]
