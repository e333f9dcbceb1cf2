#!/bin/sh
# Stand-in for a CI runner (the real ones cannot be downloaded here): reports
# what firerund handed it, so a test can prove the credentials arrived intact
# and only as a file, then exits. "run.sh hold N" keeps a job busy for N s.
set -eu
creds=${FIRERUN_RUNNER_CREDENTIALS:?no credentials file}
secret=$(cat "$creds")
echo "credentials-sha256=$(sha256sum "$creds" | cut -d' ' -f1)"
echo "credentials-mode=$(stat -c %a "$creds")"
echo "runner-name=${FIRERUN_RUNNER_NAME:-}"
if grep -qF -- "$secret" /proc/cmdline; then echo "credentials-on-cmdline=yes"; else echo "credentials-on-cmdline=no"; fi
if env | grep -qF -- "$secret"; then echo "credentials-in-env=yes"; else echo "credentials-in-env=no"; fi
if [ "${1:-}" = hold ]; then sleep "${2:-600}"; fi
exit 0
