#!/usr/bin/env bash
# Lookout side by side with Django-Lookout 0.1.2 (the reference peer) in the same run: the
# same legacy CSP load (every report unique) against both, each with SQLite on loopback;
# prints requests/s and server CPU ms per request, and the ratios. Not a test: a script that
# measures. The peer runs as its docs suggest: Django 3.2 under gunicorn, 2 sync workers.
#
#   bench/peer.sh [DURATION=20s] [CONNECTIONS="1 16 64"]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
connections=${2:-1 16 64}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
source bench/lib.sh

# The peer, in its own virtualenv (rebuilt if missing): Python 3.11, setuptools < 81 for the
# pkg_resources it imports.
venv=.cache/bench-django-lookout
if [ ! -x "$venv/bin/gunicorn" ]; then
  python3.11 -m venv "$venv"
  "$venv/bin/pip" install -q 'Django-Lookout==0.1.2' 'Django==3.2.25' 'setuptools==80.9.0' \
    'gunicorn==23.0.0' 'jsonschema==4.23.0' 'Pygments==2.19.2' 'pytz==2025.2'
fi
mkdir -p "$work/peer"
cat >"$work/peer/peer_settings.py" <<'PY'
SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "lookout"]
MIDDLEWARE = []
ROOT_URLCONF = "peer_urls"
import os
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.path.join(os.path.dirname(__file__), "db.sqlite3")}}
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
PY
cat >"$work/peer/peer_urls.py" <<'PY'
from django.urls import include, path
urlpatterns = [path("r/", include("lookout.urls"))]
PY
cat >"$work/peer/peer_wsgi.py" <<'PY'
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
PY
export PYTHONPATH="$work/peer" DJANGO_SETTINGS_MODULE=peer_settings
"$venv/bin/django-admin" migrate -v 0

cargo build --release --locked --bin lookout >&2
write_payloads

lookout_port=$(free_port)
RUST_LOG=warn target/release/lookout serve --addr "127.0.0.1:$lookout_port" \
  --data "$work/lookout-data" 2>"$work/lookout.log" &
lookout=$!; pids+=("$lookout")
peer_port=$(free_port)
"$venv/bin/gunicorn" --chdir "$work/peer" --workers 2 --worker-class sync \
  --bind "127.0.0.1:$peer_port" --log-level warning peer_wsgi:application \
  2>"$work/peer.log" &
peer=$!; pids+=("$peer")
wait_http "http://127.0.0.1:$lookout_port/health"
for _ in $(seq 100); do [ "$(pgrep -P "$peer" | wc -l)" -ge 2 ] && break; sleep 0.1; done
curl -fsS -o /dev/null -X POST --data-binary '{"csp-report":{"document-uri":"https://example.com/"}}' \
  "http://127.0.0.1:$peer_port/r/" || { cat "$work/peer.log" >&2; exit 1; }

echo "legacy CSP reports, $(nproc) cores, $duration per row; CPU counts every server process"
table_header
declare -A rps cpu
for conns in $connections; do
  for who in lookout peer; do
    if [ "$who" = lookout ]; then
      row=$(measure legacy "$conns" "http://127.0.0.1:$lookout_port/r/example.com" "$lookout")
    else
      row=$(measure legacy "$conns" "http://127.0.0.1:$peer_port/r/" "$peer" $(pgrep -P "$peer"))
    fi
    echo "${row/| legacy |/| legacy → $who |}"
    rps[$who-$conns]=$(echo "$row" | awk -F'|' '{print $4+0}')
    cpu[$who-$conns]=$(echo "$row" | awk -F'|' '{print $8+0}')
  done
done
echo
for conns in $connections; do
  awk -v c="$conns" -v lr="${rps[lookout-$conns]}" -v pr="${rps[peer-$conns]}" \
      -v lc="${cpu[lookout-$conns]}" -v pc="${cpu[peer-$conns]}" 'BEGIN {
    printf "%s connections: Lookout/peer requests/s %.1f×, peer/Lookout CPU ms per request %.1f×\n",
      c, pr ? lr / pr : 0, lc ? pc / lc : 0 }'
done
