#!/bin/sh
# Stands in for Prisma's native schema engine, which this project never runs: see prisma-generate.mjs.
echo "identity-backend applies migrations with the WebAssembly schema engine (npm run migrate)" >&2
exit 1
