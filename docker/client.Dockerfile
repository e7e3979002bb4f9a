# The example client of docker/compose.client-example.yml: the official OpenAI SDK and one script.
FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir openai==3.57.0 \
 && useradd --system --uid 10002 --user-group client
COPY client_example.py /client/client_example.py
USER 10002:10002
CMD ["python", "/client/client_example.py"]
