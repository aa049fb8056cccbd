# syntax=docker/dockerfile:1
# One image for every command: `serve` (the default, the sidecar), `webhook` (the injector), `inject`,
# `check-config`. TypeScript runs through Node 24's type stripping, so there is no build step: the
# sources are copied as they are and run from /app (Node does not strip types under node_modules).
ARG NODE_IMAGE=node:24-alpine

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: the `node` devDependency (Node 24 for developers' machines) is left
# out, the base image has Node 24. No install scripts run: none of the runtime dependencies needs one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE}
# npm, npx and yarn are not needed to run the proxy; removing them shrinks the image and what an
# attacker could use in it.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx \
      /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# Numeric, so that the kubelet can enforce runAsNonRoot; 65532 is the injected sidecar's runAsUser.
# Nothing is written at run time, so the root filesystem can be mounted read-only.
USER 65532:65532
# 8190 is the S3 proxy (loopback by default), 8191 health and metrics, 8443 the webhook.
EXPOSE 8190 8191 8443
# Node is PID 1: the proxy and the webhook handle SIGTERM and SIGINT themselves (drain, then exit),
# and start no child processes, so there are no zombies to reap and no init process is needed.
# A 1 MiB young generation makes V8 collect the short-lived 64 KiB segment buffers early: measured with
# `npm run bench`, peak RSS while streaming fell from about 200 MiB to about 150 MiB and throughput rose.
ENTRYPOINT ["node", "--max-semi-space-size=1", "/app/src/main.ts"]
CMD ["serve"]
