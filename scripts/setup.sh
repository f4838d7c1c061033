#!/usr/bin/env bash
# One-step setup for ytbh on Debian: system programs, npm packages, build.
#   scripts/setup.sh          everything needed to run the server
#   scripts/setup.sh --test   also makes sure PostgreSQL and Redis answer on 127.0.0.1 for the test suite
# As root it installs what is missing with apt-get; otherwise it prints the exact command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=false
[ "${1:-}" = "--test" ] && want_test=true

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }

# --- Node.js ---------------------------------------------------------------
command -v node >/dev/null || die "Node.js 20 (>= 20.18.1) is required: apt-get install nodejs npm, or see https://nodejs.org"
node -e 'const [a,b,c]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&(b>18||(b===18&&c>=1)))?0:1)' \
  || die "Node.js >= 20.18.1 is required (found $(node --version))"

# --- Debian packages -------------------------------------------------------
missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v yt-dlp >/dev/null || missing+=(yt-dlp)
if $want_test; then
  command -v psql >/dev/null || missing+=(postgresql postgresql-client)
  command -v redis-server >/dev/null || missing+=(redis-server)
  # The dashboard's browser tests drive Debian's Chromium (test/web); a small CJK font keeps the
  # Chinese UI's screenshots readable.
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
  fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk|droid sans fallback' || missing+=(fonts-wqy-microhei)
fi
installed_postgres=false
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    [[ " ${missing[*]} " == *" postgresql "* ]] && installed_postgres=true
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "missing system packages; run: sudo apt-get install -y ${missing[*]}"
  fi
fi

# --- npm packages and build -------------------------------------------------
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.ytbh-lock ] || [ "$(cat node_modules/.ytbh-lock)" != "$lock_hash" ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.ytbh-lock
fi
say "building (server and web dashboard)"
npm run --silent build

# --- services for the test suite ---------------------------------------------
if $want_test; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    say "starting PostgreSQL"
    cluster_version=$(ls /etc/postgresql | sort -V | tail -1)
    if $installed_postgres; then
      # A cluster we just installed: let local test connections in without a password, loopback only.
      hba="/etc/postgresql/$cluster_version/main/pg_hba.conf"
      sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432 -q || die "PostgreSQL does not answer on 127.0.0.1:5432"
  psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null \
    || die "cannot connect as postgres@127.0.0.1 without a password; set TEST_DATABASE_URL=postgres://user:pass@127.0.0.1:5432/postgres"

  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/ytbh-redis.log
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || die "Redis does not answer on 127.0.0.1:6379"
fi

say "ready (ffmpeg $(ffmpeg -hide_banner -version | head -1 | cut -d' ' -f3), yt-dlp $(yt-dlp --version))"
