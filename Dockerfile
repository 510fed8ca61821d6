# inkbridge as an image: the documented production layout runs it with compose.yaml.
# Built on a machine with Docker (`docker build -t inkbridge .`); see README "Deployment".
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INKBRIDGE_DATA_DIR=/var/lib/inkbridge
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/inkbridge inkbridge \
 && mkdir -p /var/lib/inkbridge /etc/inkbridge \
 && chown inkbridge:inkbridge /var/lib/inkbridge
USER inkbridge
WORKDIR /var/lib/inkbridge
EXPOSE 8000
# The API's liveness probe; workers override it in compose.yaml (they serve no HTTP).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["inkbridge"]
CMD ["api"]
