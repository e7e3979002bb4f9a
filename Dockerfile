# graders-emulator: a local emulator of OpenAI's graders API, with the python-grader package set and
# WordNet (METEOR). Build: `docker build -t graders-emulator .`; run: `docker compose up` (see
# docker-compose.yml) or `docker run -p 127.0.0.1:8000:8000 graders-emulator`.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8

# System packages: Debian's WordNet 3.0 for METEOR (never downloaded at run time), with index.sense
# (wordnet-sense-index) so that nltk's own WordNetCorpusReader works on the copy too, and libseccomp2 for
# the python-grader sandbox (pyseccomp loads it with ctypes). No recommends: they pull tcl/tk and the GUI.
# DL3008 (unpinned apt versions): the base tag follows Debian point releases, and the mirror drops the
# superseded version of a pinned package, which would break the build; these packages change rarely.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index libseccomp2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/grader \
            --shell /usr/sbin/nologin grader

WORKDIR /src

# Dependency layer: only pyproject.toml, so a code change does not reinstall numpy/scipy/pandas/sklearn.
# The runtime dependencies plus the python-graders extra, read from pyproject.toml itself. The packages'
# own test suites (`tests` directories: ~150 MB of scipy, pandas, sympy, sklearn, numpy) are never
# imported at run time and are dropped.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['python-graders']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt \
 && find "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
         -depth -type d -name tests -prune -exec rm -rf {} +

# The code (non-editable install into site-packages; the sandbox lets graders read site-packages only).
COPY README.md ./
COPY app ./app
RUN pip install --no-cache-dir './[python-graders]' \
 && rm -rf build ./*.egg-info

# WordNet is copied from /usr/share/wordnet into a directory the non-root user owns, once, at build
# time by the app's own loader, so the container never writes it at run time.
ENV GRADERS_EMULATOR_NLTK_DATA=/home/grader/nltk_data \
    GRADERS_EMULATOR_HOST=0.0.0.0 \
    GRADERS_EMULATOR_PORT=8000

WORKDIR /home/grader
# Numeric, so that Kubernetes' runAsNonRoot can verify it (10001 = grader).
USER 10001:10001
RUN python -c "from graders_emulator.metrics import wordnet; r = wordnet.load_wordnet(); print(wordnet.status(), len(r.synset('dog.n.01').lemma_names()))" \
 && test -f "$GRADERS_EMULATOR_NLTK_DATA/corpora/wordnet/lexnames" \
 && test -f "$GRADERS_EMULATOR_NLTK_DATA/corpora/wordnet/index.sense"

EXPOSE 8000

# JSON form (no shell); follows GRADERS_EMULATOR_PORT; slim images have no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('GRADERS_EMULATOR_PORT', '8000'), timeout=4)"]

CMD ["graders-emulator", "serve", "--host", "0.0.0.0"]
