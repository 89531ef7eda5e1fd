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
# No V8 flag: any flag costs Node's own modules their embedded code cache. One-off CLI commands keep
# undici's WebAssembly parser from tiering up by themselves (src/image/transports/docker/http.ts).
ENTRYPOINT ["node", "/app/bin/portcullis.js"]
CMD ["serve"]
