# syntax=docker/dockerfile:1
# The identity service as a container: `docker compose up --build` (see docker-compose.yml).

# Build: one static binary (CGO off; the migrations are embedded in it). The cache mounts
# keep modules and build results between builds.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /identity .

# Runtime: Alpine, small, with CA roots for SMTP over TLS and busybox `wget` for the
# healthcheck on /healthz.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates
COPY --from=build /identity /usr/local/bin/identity
# Not root: the service needs no privilege (it listens on 8080).
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["identity"]
CMD ["serve"]
