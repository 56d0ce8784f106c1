# criu-readiness: can this node's kernel checkpoint and restore with CRIU?
#
#   docker build -t criu-readiness .
#   docker run --rm --privileged -p 9870:9870 criu-readiness          (the service)
#   docker run --rm --privileged criu-readiness check --all           (the CLI)
#
#   podman build --format docker -t criu-readiness .
#     (podman's default OCI format has no HEALTHCHECK: it drops it with a warning)
#
# Behind a TLS-intercepting proxy, give npm its CA as a build secret (it is
# mounted for the npm steps only, never stored in a layer):
#   podman build --format docker --secret id=npmca,src=/path/to/ca.pem -t criu-readiness .
#
# The probes use x86-64 system call numbers, so every stage is linux/amd64.
# Bump Node by changing NODE_IMAGE (the current LTS line, Debian trixie slim).
ARG NODE_IMAGE=node:24.21.0-trixie-slim

# Production dependencies only. koffi's native library comes inside its npm
# packages (@koromix/koffi-linux-x64), so no compiler is needed, and no
# install script has to run: koffi finds that library when it is loaded.
FROM --platform=linux/amd64 ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmca \
    if [ -s /run/secrets/npmca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npmca; fi \
 && npm ci --omit=dev --ignore-scripts && npm cache clean --force

# Compile TypeScript with the dev dependencies.
FROM --platform=linux/amd64 ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmca \
    if [ -s /run/secrets/npmca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npmca; fi \
 && npm ci --ignore-scripts
COPY tsconfig.json ./
COPY scripts/bundle.mjs scripts/on-first-use.mjs ./scripts/
COPY src ./src
RUN npm run build

FROM --platform=linux/amd64 ${NODE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="criu-readiness" \
      org.opencontainers.image.description="Tells whether this node's kernel can checkpoint and restore processes with CRIU, over HTTP, Prometheus and a CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# tini runs as PID 1. The service starts a probe runner process, and probes
# start short-lived helper processes; a helper orphaned when its parent dies
# is re-parented to PID 1, and Node as PID 1 would never reap it, leaving
# zombies. tini reaps every orphan and forwards SIGTERM to Node.
# libnftables1 and iptables: the userspace CRIU itself uses to lock the
# network and dump firewall rules. The nftables, network_lock_nftables and
# has_ipt_legacy checks load or run it; without it they would describe what
# this image lacks, not what the node's kernel can do.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libnftables1 iptables \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY openapi ./openapi
COPY bin ./bin
# `criu-readiness` on PATH, for node-problem-detector's plugin and for people:
# the launcher, which starts a check's probe runner beside the CLI.
RUN chmod 0755 dist/cli.js bin/criu-readiness \
 && ln -s /app/bin/criu-readiness /usr/local/bin/criu-readiness
# Smoke test: one real probe, run by the probe runner, which loads koffi and
# the catalogue. A missing or broken native library fails the build, not the node.
RUN test "$(criu-readiness check --feature proc_stat)" = "proc_stat is supported"
# The runner's V8 code for every probe, kept in the compile cache below
# (src/engine/runner-start.ts keeps the code of the probes a runner ran): one
# run of them all. Its verdicts do not matter here (the build is not the
# node), only that each probe's code was compiled once.
RUN criu-readiness check --all >/dev/null 2>&1 || true
# Node's compile cache (/app/.compile-cache), made here so that every start
# of the CLI, its runner and the service loads our code already compiled,
# also where the root filesystem is read-only. The smoke step above made it
# for the CLI and the runner; this adds the service's first image (serve.js
# and its chunks) and the V8 code of its HTTP side (serve-http.cjs, which
# serve.ts loads from it), both loaded with the service's Node options (their
# code does nothing when loaded). A Node without a compile cache (Node 20)
# makes only the second.
RUN NODE_COMPILE_CACHE=/app/.compile-cache node --max-semi-space-size=4 --max-old-space-size=64 --input-type=module \
      -e "import { readdirSync } from 'node:fs'; for (const f of readdirSync('/app/dist/http')) if (/^(serve|chunk-\w+)\.js$/.test(f)) await import('/app/dist/http/' + f); const { loadHttpSide } = await import('/app/dist/http/serve.js'); (await loadHttpSide()).writeCode();"

# No USER: the probes need root (and the capabilities the deployment grants)
# to ask the kernel what CRIU would ask. Kubernetes decides the privileges;
# see deploy/README.md for the full-fidelity and least-privilege profiles.
EXPOSE 9870
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9870/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# V8's heap bounded for the service: 4 MiB semi-spaces and a 64 MiB old
# space, three times the ~20 MiB it keeps live. Under load V8 otherwise grows
# the heap far past what it needs: 140 MiB resident at peak instead of about
# 95. The same options as package.json's config.serviceNodeOptions (a test
# keeps them equal).
ENTRYPOINT ["tini", "--", "node", "--max-semi-space-size=4", "--max-old-space-size=64", "/app/dist/cli.js"]
CMD ["serve"]
