# Portcullis webhook and CLI image: Node 24, non-root, only dist/ and production dependencies.
# The build stage bundles the CLI (dist/cli, what bin/portcullis.js runs) and compiles dist/src.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN node scripts/build.ts

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/cli ./dist/cli
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
USER 65532:65532
EXPOSE 8443
# --liftoff-only as in bin/portcullis.js's shebang (which `node FILE` bypasses): it spares one-off
# CLI runs a wait at exit, and measured no cost to the webhook's or copy's registry requests
# (CPU per request, blob throughput: test/bench/liftoff.bench.ts).
ENTRYPOINT ["node", "--liftoff-only", "/app/bin/portcullis.js"]
CMD ["serve"]
