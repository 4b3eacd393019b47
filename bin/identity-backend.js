#!/usr/bin/env node
// The `identity-backend` command. It always runs the compiled dist/ (about 1 s to start, against
// 2-4 s for the TypeScript through a loader, which is also only a development dependency);
// ensure-build.js builds it first when src/ is newer (once, not per call).
import './ensure-build.js';

await import('../dist/cli/main.js');
