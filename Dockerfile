# GPU deployment: TensorFlow's CUDA image, VGG19 weights and the preset catalogue baked in.
# docker build -t stylebot . && docker run --gpus all -e TELEGRAM_BOT_TOKEN=... -v stylebot-data:/data stylebot
# One image for both roles: `stylebot` (the bot) and `stylebot worker` (a Celery worker; see docker-compose.yml).
FROM tensorflow/tensorflow:2.17.0-gpu

RUN useradd --create-home --uid 10001 stylebot && mkdir -p /data && chown stylebot /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY bot ./bot
# Licence note: the `av` (PyAV) wheel pip installs here bundles FFmpeg with libx264, which is GPL; the image
# therefore carries GPL-licensed code (clips: engine/video_io.py, engine/video_out.py). rlottie-python is LGPL.
# TensorFlow comes from the base image (it satisfies the project's range, so pip keeps it).
RUN pip install --no-cache-dir . && rm -rf /root/.cache

USER stylebot
ENV KERAS_HOME=/home/stylebot/.keras \
    STYLEBOT_DATA_DIR=/data \
    STYLEBOT_STYLES_DIR=/data/styles \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1 \
    STYLEBOT_METRICS_PORT=9108
# Fetch once at build time, so containers start without downloading anything.
RUN python -c "import keras; keras.applications.VGG19(include_top=False, weights='imagenet')" \
 && stylebot fetch-styles --styles-dir /data/styles

VOLUME /data
# Liveness (GET /healthz on the metrics port, 127.0.0.1 unless STYLEBOT_METRICS_HOST says otherwise): for the bot,
# the event loop answers and the database takes writes; for a worker, its process serves its metrics. A container
# with STYLEBOT_METRICS_PORT="" has nothing to check and always passes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 CMD ["python", "-m", "bot.ops.healthcheck"]
EXPOSE 9108
CMD ["stylebot"]
