#!/usr/bin/env bash
# Downloads the vendored libraries again from the npm registry and checks them against the
# copies here (exit 1 on any difference). Usage: ./fetch.sh [--write]
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent codemirror@5.65.20 >/dev/null)
echo "0ef6484ea4f71c28c6b3dd146349e79786762fc4b42e5b33befea6201c7fa6c8  $tmp/codemirror-5.65.20.tgz" | sha256sum -c --quiet
tar -xzf "$tmp/codemirror-5.65.20.tgz" -C "$tmp"
pairs=(
  lib/codemirror.js:codemirror/codemirror.js
  lib/codemirror.css:codemirror/codemirror.css
  LICENSE:codemirror/LICENSE
  mode/python/python.js:codemirror/mode/python.js
  mode/javascript/javascript.js:codemirror/mode/javascript.js
  mode/shell/shell.js:codemirror/mode/shell.js
)
status=0
for pair in "${pairs[@]}"; do
  from="$tmp/package/${pair%%:*}" to="${pair##*:}"
  if [[ "${1:-}" == --write ]]; then
    mkdir -p "$(dirname "$to")" && cp "$from" "$to"
  elif ! cmp -s "$from" "$to"; then
    echo "differs from the registry: $to" >&2
    status=1
  fi
done
[[ $status == 0 ]] && echo "vendored files match the npm registry"
exit $status
