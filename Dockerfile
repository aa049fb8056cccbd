# syntax=docker/dockerfile:1
# One image for every command: `serve` (the default, the sidecar), `webhook` (the injector), `inject`,
# `check-config`. The build stage compiles src/ to JavaScript (dist/, as `npm run build` does): Node 24
# could run the TypeScript through its type stripping, but that keeps about 30 MiB more resident for the
# process's life.
#
# The bases (see docs/DEPLOYMENT.md, "The image"): Node 24 on Debian 12 in both stages, glibc like the
# Node binary the tests run on. The final one is distroless: Node and the C libraries it links, CA
# certificates and tzdata, a nonroot user 65532; no shell, no package manager, no npm, so nothing in the
# image runs but the proxy. Override either for a mirror or a digest pin:
#   docker build --build-arg RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@sha256:... .
# The image test builds this file on bases assembled from Debian packages (scripts/image-bases.sh).
ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# TypeScript and the type definitions; no install scripts (the `node` devDependency would fetch a second Node).
RUN npm ci --include=dev --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

FROM ${BUILD_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: the `node` devDependency (Node 24 for developers' machines) is left
# out, the base image has Node 24. No install scripts run: none of the runtime dependencies needs one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

# No RUN below this line: the runtime base has no shell.
FROM ${RUNTIME_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
# Numeric, so that the kubelet can enforce runAsNonRoot; 65532 is the injected sidecar's runAsUser
# and distroless's nonroot user. /app belongs to root, so the proxy cannot change its own code; it
# writes nothing at run time, so the root filesystem can be mounted read-only.
USER 65532:65532
# 8190 is the S3 proxy (loopback by default), 8191 health and metrics, 8443 the webhook.
EXPOSE 8190 8191 8443
# Node is PID 1: the proxy and the webhook handle SIGTERM and SIGINT themselves (drain, then exit),
# and start no child processes, so there are no zombies to reap and no init process is needed.
# The V8 heap flags (docs/decisions/0015-v8-heap-flags.md): a 1 MiB young generation collects the
# short-lived 64 KiB segment buffers early; an old-generation limit of at least 64 MiB keeps those
# buffers from setting off a full collection every few MiB streamed.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=1", "--initial-old-space-size=64", "/app/dist/main.js"]
CMD ["serve"]
