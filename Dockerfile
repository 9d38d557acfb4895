# The tern bootstrap as a Lambda container image (all handlers; CMD names the one to run).
#
# The build context is the directory `make image-context` stages, not the repository:
#   target/image/bootstrap              the static bootstrap (x86_64, glibc crt-static, non-PIE)
#   target/image/ca-certificates.crt    the CA bundle the AWS SDK's TLS client trusts
#
#   make image                                       # stages, builds with podman, checks size
#   docker build -t tern-bootstrap target/image -f Dockerfile               # minimal (default)
#   docker build -t tern-bootstrap:al2023 --target al2023 target/image -f Dockerfile
#
# Lambda runs ENTRYPOINT + CMD; set the function's ImageConfig.Command (SAM: `ImageConfig:
# Command: [kinesis]`) to choose another handler without rebuilding.

# Second target: AWS's base image for custom runtimes (Amazon Linux 2023, ~100 MB). Its
# entrypoint exports `_HANDLER` from CMD and runs /var/runtime/bootstrap, under the bundled
# emulator when started outside Lambda. Pick it when a function needs a shell, system
# libraries or `dnf` packages next to the bootstrap.
FROM public.ecr.aws/lambda/provided:al2023 AS al2023
COPY bootstrap /var/runtime/bootstrap
CMD ["sqs"]

# Default target (last stage): nothing but the static binary and the CA bundle. The bundle
# sits at the first path tern_runtime::aws looks for (Debian's), so SDK calls over TLS verify
# without any environment variable; SSL_CERT_FILE names it anyway, which makes the one parse
# of it at init the platform loader's (tern vets a bundle it finds itself, which costs a second
# parse). The bootstrap keeps its 0755 mode from the staging directory (Lambda runs the image
# as a non-root user).
FROM scratch AS minimal
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY bootstrap /bootstrap
ENTRYPOINT ["/bootstrap"]
CMD ["sqs"]
