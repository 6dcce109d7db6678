#!/usr/bin/env bash
# Build the pinned CometBFT release into .tools/bin (cached: skipped when already present).
# No Go code of ours: `go install` of the upstream command at a fixed v0.38 release.
#
# It needs a Go toolchain of 1.21 or later (1.21+ fetches the 1.22 that CometBFT's go.mod asks for
# by itself). A machine without one (or with an older one, e.g. Debian's golang-go 1.19) gets the
# pinned Go release from the Go module proxy (golang.org/toolchain, the very archive `go` itself
# downloads when it switches toolchains), checked against its pinned SHA-256, into .tools/go.
set -euo pipefail
VERSION="${COMETBFT_VERSION:-v0.38.26}"
GO_RELEASE="go1.23.12"
GO_SHA256_linux_amd64="7bf9a01c191c452bf1fa9266a547abe0e437ff46d16adc9ec55fcc4fea24c121"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${ROOT}/.tools/bin"
STAMP="${BIN}/.cometbft-${VERSION}"
if [[ -x "${BIN}/cometbft" && -f "${STAMP}" ]]; then
  echo "cometbft ${VERSION} already at ${BIN}/cometbft"
  exit 0
fi

go_usable() {  # a `go` on PATH of 1.21 or later
  command -v go >/dev/null || return 1
  local v
  v="$(go env GOVERSION 2>/dev/null || true)"
  [[ "${v}" =~ ^go1\.([0-9]+) ]] || return 1
  ((BASH_REMATCH[1] >= 21))
}

fetch_go() {
  local arch sum url dir zip
  case "$(uname -m)" in
    x86_64 | amd64) arch="linux-amd64" ;;
    *) echo "no usable Go toolchain (1.21+) and no pinned one for $(uname -m): install Go first" >&2; exit 1 ;;
  esac
  sum_var="GO_SHA256_${arch//-/_}"
  sum="${!sum_var}"
  dir="${ROOT}/.tools/go"
  if [[ -x "${dir}/bin/go" && "$("${dir}/bin/go" env GOVERSION 2>/dev/null)" == "${GO_RELEASE}" ]]; then
    return 0
  fi
  url="${GOPROXY_URL:-https://proxy.golang.org}/golang.org/toolchain/@v/v0.0.1-${GO_RELEASE}.${arch}.zip"
  zip="$(mktemp "${ROOT}/.tools/go-XXXXXX.zip")"
  echo "no usable Go toolchain: fetching ${GO_RELEASE} from the Go module proxy"
  curl -fsSL --retry 3 -o "${zip}" "${url}"
  echo "${sum}  ${zip}" | sha256sum -c --quiet - || { rm -f "${zip}"; echo "Go archive checksum mismatch" >&2; exit 1; }
  rm -rf "${dir}" "${dir}.tmp"
  python3 - "${zip}" "${dir}.tmp" "golang.org/toolchain@v0.0.1-${GO_RELEASE}.${arch}/" <<'PY'
import os, stat, sys, zipfile
src, dest, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(src) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix):
            raise SystemExit(f"unexpected path in archive: {info.filename}")
        name = info.filename[len(prefix):]
        if not name or name.endswith("/"):
            continue
        target = os.path.join(dest, name)
        if not os.path.realpath(target).startswith(os.path.realpath(dest) + os.sep):
            raise SystemExit(f"unsafe path in archive: {info.filename}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as r, open(target, "wb") as w:
            w.write(r.read())
        if name.startswith("bin/") or name.startswith("pkg/tool/"):
            os.chmod(target, os.stat(target).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
PY
  mv "${dir}.tmp" "${dir}"
  rm -f "${zip}"
}

mkdir -p "${BIN}"
GO=go
if ! go_usable; then
  fetch_go
  GO="${ROOT}/.tools/go/bin/go"
  export GOROOT="${ROOT}/.tools/go"
fi
echo "building cometbft ${VERSION} into ${BIN} with $("${GO}" version) (takes a few minutes)"
GOBIN="${BIN}" GOFLAGS="${GOFLAGS:-} -trimpath" "${GO}" install "github.com/cometbft/cometbft/cmd/cometbft@${VERSION}"
rm -f "${BIN}"/.cometbft-*
touch "${STAMP}"
"${BIN}/cometbft" version
