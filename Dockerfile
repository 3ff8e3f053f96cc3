# shimgw: slim runtime image. Build: docker build -t shimgw .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shimgw ./shimgw
COPY openapi ./openapi
COPY translations ./translations
RUN pip install --no-cache-dir --upgrade pip build \
 && python -m build --wheel --outdir /wheels

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app shimgw
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY --chown=shimgw:shimgw docker/shimgw.yaml /etc/shimgw/shimgw.yaml
USER shimgw
EXPOSE 8080 9180
# The admin listener's /healthz answers once the snapshot is built and serving.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:9180/healthz', timeout=2).status != 200)"
ENTRYPOINT ["shimgw"]
CMD ["serve", "--config", "/etc/shimgw/shimgw.yaml"]
