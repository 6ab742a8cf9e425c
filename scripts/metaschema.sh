#!/bin/sh
# Fetches the official JSON Schema meta-schemas (draft-06, draft-07, 2019-09,
# 2020-12) for $refs and $schema that name them: the npm package ajv@8.20.0
# ships them under package/lib/refs/, ajv-draft-04@1.0.0 draft-04's under
# package/src/refs/. Checked against the sha256 sums below;
# idempotent (nothing to do when every file is present and verifies).
#
#   scripts/metaschema.sh [DIR]      (default build/metaschema)
set -eu
DIR=${1:-build/metaschema}
PKG=ajv@8.20.0
PKG4=ajv-draft-04@1.0.0

sums() {
  cat <<'SUMS'
5333c7df76bceee098e865881d0808238dea836126c6c60b49299ec85c6c7a56  json-schema-2020-12/schema.json
f1e465ff0c0cc86bee5c0cc4b51d2734c532e6ea12c75b60a2ac093a4577b2d4  json-schema-2020-12/meta/applicator.json
7ede86f2c48d646202bf1332aefaf46db268c943d59752727db7247dc2920516  json-schema-2020-12/meta/content.json
c3a5947992d4fe67c95cda7910911207376bbae41c0a124ec9e7e699172e7a49  json-schema-2020-12/meta/core.json
1e31131b1ed21f98c007f04deb501343b8c4dd77f1c5a8494a9c2085f68d769d  json-schema-2020-12/meta/format-annotation.json
eb008c756b29bdaa237c1f06d32ea4a21f6ef22148b03c6372cea5e4c0782273  json-schema-2020-12/meta/meta-data.json
8f7f75f4274745faa32e4abdba12de99f49b21df225f52f723b5c62043b0edca  json-schema-2020-12/meta/unevaluated.json
3cae7069843679429e4ada7df261bb8961fa34cac15be89296026e69af312092  json-schema-2020-12/meta/validation.json
264720afa0dd61919e21bbe9bc1312121b70e43019ac696240e069adc72cce15  json-schema-2019-09/schema.json
9c356a52b0ad5da7d4c1b69f61dff5277c2af46221bc0b0521bbdbf3a12d3a2a  json-schema-2019-09/meta/applicator.json
cf4792ae93f4a4580ec9523640945f7756f75fd624935ebf15194b0ac3909267  json-schema-2019-09/meta/content.json
629c017994ffaa33f573a96cf01b9dac6cae80c7d5d17dad5e823a3afa18d5fe  json-schema-2019-09/meta/core.json
018ef7c81bcca9e40a4a02ed236e7cabb3a630f2b1ea01fbdeed2f882c15ddc8  json-schema-2019-09/meta/format.json
e038593d36bf1855875a13b8812469d6a2d62ed309436b9c9a2fa5a4ba59085e  json-schema-2019-09/meta/meta-data.json
aaba7f2d6fcbdfa6ca97fdc3d3da1ae7d66ca3322b7e90cf5a98b067555d06e6  json-schema-2019-09/meta/validation.json
a9b6a00af20105009f0924cd7c02d811bbf70c579a96f1552579c3457111f687  json-schema-draft-06.json
f7e8b13cad4fecff9771f3626fef33e20e59027b90938a28fd9d2f6c17cd0773  json-schema-draft-07.json
e857cb88dfbac6fb8d193f6b7a1695106fdbfc49b596e7da148b8bc8304a5b28  json-schema-draft-04.json
SUMS
}

mkdir -p "$DIR"
if (cd "$DIR" && sums | sha256sum -c --quiet --status 2>/dev/null); then
  exit 0
fi
command -v npm >/dev/null || { echo "metaschema.sh: npm is needed to fetch $PKG" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
echo "metaschema.sh: fetching $PKG with npm pack" >&2
(cd "$TMP" && npm pack "$PKG" "$PKG4" --silent >/dev/null)
tar -xzf "$TMP"/ajv-8*.tgz -C "$TMP" package/lib/refs
mkdir -p "$TMP/d4" && tar -xzf "$TMP"/ajv-draft-04-*.tgz -C "$TMP/d4" package/src/refs/json-schema-draft-04.json
cp "$TMP/d4/package/src/refs/json-schema-draft-04.json" "$TMP/package/lib/refs/"
if ! (cd "$TMP/package/lib/refs" && sums | sha256sum -c --quiet); then
  echo "metaschema.sh: sha256 mismatch in $PKG; nothing installed" >&2
  exit 1
fi
sums | while read -r _ f; do mkdir -p "$DIR/$(dirname "$f")"; cp "$TMP/package/lib/refs/$f" "$DIR/$f"; done
(cd "$DIR" && sums > SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
echo "metaschema.sh: meta-schemas in $DIR" >&2
