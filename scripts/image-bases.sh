#!/usr/bin/env bash
# Makes the two base images the Dockerfile's ARGs name, for building the image where the official ones
# cannot be pulled (here Docker Hub and gcr.io are out of reach): from Debian 12 packages
# (`apt-get download`) and the Node 24 binary that npm's `node` devDependency installed. Prints
#   BUILD_IMAGE=<name> RUNTIME_IMAGE=<name>
# for `podman build --build-arg ...`. Each is kept in the local image store under a tag that is a hash of
# everything it is made of, so a warm run only checks that the two images exist.
#
#   runtime  what gcr.io/distroless/nodejs24-debian12:nonroot holds: glibc, libgcc, libstdc++, CA
#            certificates, tzdata, nsswitch.conf, passwd/group with nonroot (65532), /nodejs/bin/node as
#            the entrypoint; no shell and no package manager, so a RUN in the final stage fails here as
#            it would on the real base.
#   build    the runtime's files plus a shell (dash) and npm, standing in for node:24-bookworm-slim in
#            the stage that runs `npm ci`; it trusts the CAs this machine trusts (TLS to the registry
#            may be intercepted on the way), and nothing of it reaches the final image.
#
#   CLOUDTASER_CACHE   cache root for the downloaded packages (default ${XDG_CACHE_HOME:-~/.cache}/cloudtaser)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm_version=11.19.1
runtime_packages=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 libstdc++6)
build_packages=(dash)
cache=${CLOUDTASER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cloudtaser}/image-bases
step() { printf 'image-bases: %s\n' "$*" >&2; }

node_binary=$(realpath node_modules/.bin/node)
[[ -x $node_binary ]] || { echo "image-bases.sh: no node_modules/.bin/node; run npm ci first" >&2; exit 1; }
node_version=$("$node_binary" --version)
[[ $node_version == v24.* ]] || { echo "image-bases.sh: node_modules has Node $node_version, not 24" >&2; exit 1; }
arch=$(dpkg --print-architecture)

# The packages' versions as apt would fetch them now: a security update makes a new base.
versions=$(apt-cache policy "${runtime_packages[@]}" "${build_packages[@]}" | awk '/^[^ ]/ {p=$1} /Candidate:/ {print p, $2}')
if grep -q '(none)' <<<"$versions"; then
  echo "image-bases.sh: apt knows no candidate for some packages (run apt-get update):" >&2
  echo "$versions" >&2
  exit 1
fi
key=$( { cat "${BASH_SOURCE[0]}"; echo "$node_version $arch npm@$npm_version"; echo "$versions"; sha256sum /etc/ssl/certs/ca-certificates.crt; } | sha256sum | cut -c1-16)
runtime_image=localhost/cloudtaser-base/nodejs24-runtime:$key
build_image=localhost/cloudtaser-base/nodejs24-build:$key

if podman image exists "$runtime_image" && podman image exists "$build_image"; then
  echo "BUILD_IMAGE=$build_image RUNTIME_IMAGE=$runtime_image"
  exit 0
fi

started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/cloudtaser-bases.XXXXXX")
trap 'rm -rf "$work"' EXIT
debs=$cache/debs
mkdir -p "$debs"
step "apt-get download ${runtime_packages[*]} ${build_packages[*]}"
(cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${runtime_packages[@]}" "${build_packages[@]}" >&2)
deb_of() { ls -t "$debs/$1"_*.deb | head -1; }

root=$work/runtime
mkdir -p "$root"
for package in "${runtime_packages[@]}"; do dpkg-deb -x "$(deb_of "$package")" "$root"; done
# What the packages' maintainer scripts would have made, and distroless adds by itself.
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot" "$root/root" "$root/nodejs/bin"
find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z | xargs -0 cat >"$root/etc/ssl/certs/ca-certificates.crt"
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/home/nonroot"
chmod 0700 "$root/root"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
install -m 0755 "$node_binary" "$root/nodejs/bin/node"

step "importing $runtime_image"
tar -C "$root" --numeric-owner -c . | podman import \
  --change 'ENTRYPOINT ["/nodejs/bin/node"]' \
  --change 'USER 65532' \
  --change 'WORKDIR /home/nonroot' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  - "$runtime_image" >/dev/null

for package in "${build_packages[@]}"; do dpkg-deb -x "$(deb_of "$package")" "$root"; done
ln -sf dash "$root/bin/sh"
mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/bin"
tarball=$cache/npm-$npm_version.tgz
if [[ ! -f $tarball ]]; then
  step "npm pack npm@$npm_version"
  (cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null && mv "npm-$npm_version.tgz" "$tarball")
fi
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner -xzf "$tarball"
ln -sf /nodejs/bin/node "$root/usr/local/bin/node"
printf '#!/bin/sh\nexec /nodejs/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js "$@"\n' >"$root/usr/local/bin/npm"
chmod 0755 "$root/usr/local/bin/npm"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"

step "importing $build_image"
tar -C "$root" --numeric-owner -c . | podman import \
  --change 'USER 0' \
  --change 'WORKDIR /root' \
  --change 'ENV HOME=/root' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  - "$build_image" >/dev/null

# Bases made from older packages or an older script a day ago or more are of no further use (younger
# ones may belong to a test run of another checkout going on now).
for old in $(podman images --filter until=24h --format '{{.Repository}}:{{.Tag}}' | grep -E '^localhost/cloudtaser-base/nodejs24-(runtime|build):' | grep -v -e ":$key\$"); do
  podman rmi "$old" >/dev/null 2>&1 || true
done
step "made both bases in $((SECONDS - started)) s (Node $node_version, Debian packages: $(tr '\n' ' ' <<<"$versions"))"
echo "BUILD_IMAGE=$build_image RUNTIME_IMAGE=$runtime_image"
