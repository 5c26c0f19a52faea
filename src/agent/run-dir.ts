import { resolve } from 'node:path';
import type { Spec } from '../model/spec.js';
import { nodePaths } from '../util/node-paths.js';

/**
 * The spec with every per-node runtime path (state dir, HAProxy's runtime and master sockets)
 * moved under `runDir`. On a real node `runDir` is `admin.stateDir`; in the lab all nodes share
 * one filesystem, so each node gets its own directory. Sockets stay mode 0600 inside a 0700 dir.
 */
export function withRunDir(spec: Spec, runDir: string): Spec {
  const dir = resolve(runDir);
  return Object.freeze({
    ...spec,
    admin: Object.freeze({
      ...spec.admin,
      stateDir: dir,
      runtimeSocket: nodePaths(dir).haproxyRuntimeSocket,
      masterSocket: nodePaths(dir).haproxyMasterSocket,
    }),
  });
}
