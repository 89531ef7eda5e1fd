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
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/cli ./dist/cli
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
USER 65532:65532
EXPOSE 8443
# No V8 flag: any flag costs Node's own modules their embedded code cache. One-off CLI commands keep
# undici's WebAssembly parser from tiering up by themselves (src/image/transports/docker/http.ts).
ENTRYPOINT ["node", "/app/bin/portcullis.js"]
CMD ["serve"]
