#!/usr/bin/env bash
# Build the pinned CometBFT release into .tools/bin (cached: skipped when already present).
# No Go code of ours: `go install` of the upstream command at a fixed v0.38 release.
set -euo pipefail
VERSION="${COMETBFT_VERSION:-v0.38.26}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${ROOT}/.tools/bin"
STAMP="${BIN}/.cometbft-${VERSION}"
if [[ -x "${BIN}/cometbft" && -f "${STAMP}" ]]; then
  echo "cometbft ${VERSION} already at ${BIN}/cometbft"
  exit 0
fi
command -v go >/dev/null || { echo "go toolchain not found; cannot build cometbft" >&2; exit 1; }
mkdir -p "${BIN}"
echo "building cometbft ${VERSION} into ${BIN} (takes a few minutes)"
GOBIN="${BIN}" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/cometbft/cometbft/cmd/cometbft@${VERSION}"
rm -f "${BIN}"/.cometbft-*
touch "${STAMP}"
"${BIN}/cometbft" version
