# inferstack gateway image (CPU). Backends are vLLM pods / managed APIs reached by URL; the image
# carries the gateway, the trained intent/NER models and MiniLM, nothing GPU.
#   docker build -f docker/gateway.Dockerfile -t ghcr.io/inferstack/gateway:0.1.0 .
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY inferstack ./inferstack
# CPU torch from the PyTorch index; everything else pinned by constraints.txt.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && /opt/venv/bin/pip install -c constraints.txt . \
 && /opt/venv/bin/pip uninstall -y torchvision torchaudio torchcodec triton || true
# Train the intent classifier, NER, guard classifier and reranker here (about 13 min on 2 cores)
# so pods start with them. The reranker learns from man pages: slim images exclude them, so put them back first.
ENV INFERSTACK_CACHE=/opt/inferstack/cache HF_HUB_OFFLINE=1 DO_NOT_TRACK=1
RUN rm -f /etc/dpkg/dpkg.cfg.d/docker \
 && apt-get update && apt-get install -y --no-install-recommends man-db manpages manpages-dev \
    coreutils util-linux procps iproute2 openssh-client git \
 && /opt/venv/bin/inferstack train intent ner guard reranker

FROM python:3.11-slim-bookworm
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/inferstack/cache /opt/inferstack/cache
RUN useradd --uid 10001 --user-group --no-create-home inferstack
USER 10001:10001
ENV PATH=/opt/venv/bin:$PATH INFERSTACK_CACHE=/var/cache/inferstack HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 VLLM_NO_USAGE_STATS=1 PYTHONUNBUFFERED=1
EXPOSE 8000
ENTRYPOINT ["inferstack"]
CMD ["serve"]
