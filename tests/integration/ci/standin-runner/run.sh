#!/bin/bash
# Stand-in for a CI runner (the real ones cannot be downloaded here): reports
# what firerund handed it, so a test can prove the credentials arrived intact
# and only as a file, then contacts its server over the guest network the way
# a real runner starts (GitHub: a broker session with the JIT config's
# credential; GitLab: POST /runners/verify with the runner token) and exits.
# "run.sh hold N" keeps a job busy for N s.
set -eu
creds=${FIRERUN_RUNNER_CREDENTIALS:?no credentials file}
secret=$(cat "$creds")
echo "credentials-sha256=$(sha256sum "$creds" | cut -d' ' -f1)"
echo "credentials-mode=$(stat -c %a "$creds")"
echo "runner-name=${FIRERUN_RUNNER_NAME:-}"
echo "uid=$(id -u)"
if grep -qF -- "$secret" /proc/cmdline; then echo "credentials-on-cmdline=yes"; else echo "credentials-on-cmdline=no"; fi
if env | grep -qF -- "$secret"; then echo "credentials-in-env=yes"; else echo "credentials-in-env=no"; fi

# POST <url> <path>, reading the Authorization value and the JSON body as two
# lines on stdin (secrets stay off every command line): prints the HTTP status,
# or "unreachable". bash's /dev/tcp: the image has no curl.
post() {
  local hostport=${1#http://}
  hostport=${hostport%%/*}
  timeout 20 bash -c '
    IFS= read -r auth; IFS= read -r body
    exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
    header=""; [ -z "$auth" ] || header="Authorization: $auth"$'"'"'\r\n'"'"'
    printf "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nUser-Agent: firerun-standin\r\n%sConnection: close\r\n\r\n%s" \
      "$2" "$1" "${#body}" "$header" "$body" >&3
    read -r _ status _ <&3 && echo "$status"' _ "$hostport" "$2" 2>/dev/null || echo unreachable
}
json_field() { grep -o "\"$1\": *\"[^\"]*\"" | head -n1 | cut -d'"' -f4; }

if server=$(base64 -d "$creds" 2>/dev/null | json_field server_url) && [ -n "$server" ]; then
  credential=$(base64 -d "$creds" | json_field credential)
  echo "server-status=$(printf 'RemoteAuth %s\n{}\n' "$credential" | post "$server" /broker/session)"
elif [ -n "${CI_SERVER_URL:-}" ]; then
  echo "server-status=$(printf '\n{"token": "%s", "system_id": "s_firerunstandin"}\n' "$secret" | post "$CI_SERVER_URL" /api/v4/runners/verify)"
fi
if [ "${1:-}" = hold ]; then sleep "${2:-600}"; fi
exit 0
