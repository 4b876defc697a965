#!/usr/bin/env bash
# Installs the node tools (dynalite, the CDK CLI) under tools/, outside the Go module.
set -euo pipefail
dir=${1:-tools}
mkdir -p "$dir"
cd "$dir"
want=(dynalite aws-cdk)
missing=0
for p in "${want[@]}"; do [ -d "node_modules/$p" ] || missing=1; done
[ $missing -eq 0 ] && exit 0
if ! command -v npm >/dev/null; then
  echo "npm is missing: apt-get install -y nodejs npm" >&2
  exit 1
fi
[ -f package.json ] || echo '{"name":"pg2s3-tools","private":true}' > package.json
echo "setup: installing dynalite and aws-cdk under $dir (npm)"
npm install --no-audit --no-fund --loglevel=error dynalite@4 aws-cdk@2 >/dev/null
