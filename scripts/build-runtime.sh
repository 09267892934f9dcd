#!/usr/bin/env bash
# Rebuild the minified client runtime from its readable source, after every edit of
# src/component_framework/static/component-framework.js: terser (package.json devDependencies,
# installed by `npm ci`) writes component-framework.min.js and its source map beside the source,
# or into the folder given as the first argument (the test suite builds into a temporary one to
# check that the committed files are current). Commit both generated files: pages load the
# minified one by default, and the Python package ships it (no node needed to use it).
# See docs/htmx.md, "Size budget".
#
# Only compression and the mangling of local names: property names and strings (event names,
# data attributes, the extension name, window.componentFramework) stay as written, and terser
# adds no eval or Function, so a strict Content-Security-Policy still holds.
set -euo pipefail
cd "$(dirname "$0")/.."
static="src/component_framework/static"
out="$(cd "${1:-$static}" && pwd)"
terser="$PWD/node_modules/.bin/terser"
if [ ! -x "$terser" ]; then
    echo "$terser is missing: run \`npm ci\` (package.json devDependencies)" >&2
    exit 1
fi
cd "$static"
"$terser" component-framework.js \
    --ecma 5 \
    --compress passes=2 \
    --mangle \
    --comments false \
    --format 'preamble="/* component-framework client runtime, minified from component-framework.js by scripts/build-runtime.sh: edit that file, then rebuild. */"' \
    --source-map "url='component-framework.min.js.map'" \
    --output "$out/component-framework.min.js"
