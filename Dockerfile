# Portcullis webhook and CLI image: Node 24, non-root, only dist/ and production dependencies.
# The build stage bundles the CLI (dist/cli, what bin/portcullis.js runs) and compiles dist/src.
# NODE_IMAGE: any Node 24 image with npm; the e2e suite builds on a Debian base made locally.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN node scripts/build.ts

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# V8 grows its young generation to 2 x 64 MiB under serve's start-up and scans, and keeps it while
# busy: at most 2 x 8 MiB holds serve with 10,000 running pods watched under 250 MiB (figures in
# docs/background-verification.md). A heap size leaves V8's code-cache tag as it is.
ENV NODE_OPTIONS=--max-semi-space-size=8
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/cli ./dist/cli
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
USER 65532:65532
EXPOSE 8443
# No other V8 flag: any that changes the code-cache tag costs Node's own modules their embedded code
# cache. One-off CLI commands keep undici's WebAssembly parser from tiering up by themselves
# (src/image/transports/docker/http.ts).
ENTRYPOINT ["node", "/app/bin/portcullis.js"]
CMD ["serve"]
