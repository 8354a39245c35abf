#!/usr/bin/env node
// Starts the Firebase Auth emulator from firebase-tools in about a second, on any port.
//
// `firebase emulators:start` spends ~7 s compiling OpenAPI validators up front and binds fixed
// helper ports; here the emulator's own express app is created directly and exegesis is told to
// compile validation schemas lazily. This relies on firebase-tools internals, which is why
// package-lock.json pins the exact firebase-tools version. Dev/test tooling only.
//
// usage: node scripts/auth-emulator.js PROJECT_ID [PORT] [READY_FILE]   (PORT 0 = a free port)
// Once it accepts requests it prints `{"ready": true, "port": N}` on stdout and, if READY_FILE is
// given, writes the same line there (so a caller can send stdout to a log file).
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..", "node_modules");
const exegesisExpress = require(path.join(root, "exegesis-express"));
const compileEagerly = exegesisExpress.middleware;
exegesisExpress.middleware = (spec, options) =>
  compileEagerly(spec, { ...options, lazyCompileValidationSchemas: true });

const { createApp } = require(path.join(root, "firebase-tools/lib/emulator/auth/server"));

async function main() {
  const projectId = process.argv[2];
  const port = Number(process.argv[3] || 0);
  const readyFile = process.argv[4];
  if (!projectId) {
    console.error("usage: auth-emulator.js PROJECT_ID [PORT]");
    process.exit(2);
  }
  const app = await createApp(projectId);
  const server = app.listen(port, "127.0.0.1", () => {
    const line = JSON.stringify({ ready: true, port: server.address().port });
    if (readyFile) {
      // Written whole, then renamed: the reader never sees a half-written file.
      fs.writeFileSync(readyFile + ".tmp", line + "\n");
      fs.renameSync(readyFile + ".tmp", readyFile);
    }
    console.log(line);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
