#!/bin/sh
# Brings GraphiQL's browser files into npm/ from the npm registry (npm pack:
# the registry's tarballs, checked against its integrity hashes), and checks
# them against SHA256SUMS before anything is replaced.
#
#   ./update.sh           download again and check; npm/ changes only if the
#                         sums match (a way to prove the files are npm's)
#   ./update.sh --write   after changing a version below: copy the new files
#                         and rewrite SHA256SUMS; then update README.md
#
# Only the minified bundles and each package's LICENSE are kept: source maps
# and development builds stay out of the binary.
set -eu

cd "$(dirname "$0")"
here=$(pwd)
write=false
[ "${1:-}" = --write ] && write=true

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# unpack SPEC: npm pack SPEC into $tmp and unpack it under $tmp/SPEC.
unpack() {
	tarball=$(npm pack --silent --pack-destination "$tmp" "$1" | tail -n 1)
	mkdir -p "$tmp/$1"
	tar -xzf "$tmp/$tarball" -C "$tmp/$1"
	echo "$1: $tarball" >&2
}

# take SPEC PATH NAME: copy PATH (inside SPEC's tarball) to $tmp/out/NAME.
take() {
	cp "$tmp/$1/$2" "$tmp/out/$3"
}

mkdir -p "$tmp/out"
unpack graphiql@4.1.2
take graphiql@4.1.2 package/graphiql.min.js graphiql.min.js
take graphiql@4.1.2 package/graphiql.min.css graphiql.min.css
take graphiql@4.1.2 package/LICENSE graphiql.LICENSE
unpack react@18.2.0
take react@18.2.0 package/umd/react.production.min.js react.production.min.js
take react@18.2.0 package/LICENSE react.LICENSE
unpack react-dom@18.2.0
take react-dom@18.2.0 package/umd/react-dom.production.min.js react-dom.production.min.js
take react-dom@18.2.0 package/LICENSE react-dom.LICENSE

if $write; then
	(cd "$tmp/out" && sha256sum -- *) >SHA256SUMS
else
	# Every file taken is listed, and every listed file matches.
	(cd "$tmp/out" && ls) | diff - "$(awk '{ print $2 }' SHA256SUMS | sort >"$tmp/listed"; echo "$tmp/listed")"
	(cd "$tmp/out" && sha256sum --quiet -c "$here/SHA256SUMS")
fi
rm -rf npm
mkdir npm
cp "$tmp"/out/* npm/
cat SHA256SUMS
