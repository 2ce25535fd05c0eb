// Skiff's tenant bootstrap, the extension's entry point. The files it imports, in load order,
// build the global scope a worker script sees out of deno's extension scripts: 00_modules.js
// loads deno's scripts, 01_invocation.js holds the node's configuration and each request's
// budgets, 02_fixes.js corrects deno's departures from the standards, 03_keys.js charges
// CryptoKey material to the isolate's memory limit, 03_urlpattern.js is URLPattern,
// 03_workers.js is what Workers adds (navigator's values, the Cloudflare global and the
// compatibility flags, scheduler, timingSafeEqual),
// 04_globals.js defines the globals, 05_dispatch.js is the handler API and the dispatch loop,
// 06_engine.js hides the engine layer's internals, 08_cache.js is the Cache API (`caches`).
//
// Everything the dispatcher relies on is captured in those files, before tenant code runs, so a
// tenant that patches globals or prototypes cannot change how responses leave the isolate.

import { primordials } from "ext:core/mod.js";
import { op_skiff_set_tenant_start } from "ext:core/ops";
import "ext:skiff_worker/00_modules.js";
import { config, tenantStart } from "ext:skiff_worker/01_invocation.js";
import "ext:skiff_worker/02_fixes.js";
import "ext:skiff_worker/03_keys.js";
import "ext:skiff_worker/03_urlpattern.js";
import { applyCompatibility } from "ext:skiff_worker/03_workers.js";
import "ext:skiff_worker/03_streams.js";
import "ext:skiff_worker/03_websocket.js";
import "ext:skiff_worker/04_globals.js";
import "ext:skiff_worker/08_cache.js";
import { dispatchLoop } from "ext:skiff_worker/05_dispatch.js";
import {
  hideEngineInternals,
  repairErrorConstructors,
  seedMathRandom,
} from "ext:skiff_worker/06_engine.js";

const { ObjectDefineProperty } = primordials;

// The boot: the files imported above build the global scope, which a startup snapshot can hold;
// what `__skiffBoot` sets up lives in the runtime's Rust state or is a pending async function,
// which a snapshot cannot hold. The runtime calls it once right after it creates the runtime
// (freshly or from a snapshot), before anything else runs; it removes itself and the engine's
// internals.

ObjectDefineProperty(globalThis, "__skiffBoot", {
  configurable: true,
  enumerable: false,
  writable: false,
  value: () => {
    // Nothing internal stays reachable from tenant code. (The engine reads `Deno.core` and
    // its snapshot table when it restores a snapshot, so these go only now.)
    for (const name of ["__skiffBoot", "Deno", "__bootstrap"]) delete globalThis[name];
    hideEngineInternals();
    seedMathRandom();
    repairErrorConstructors();
    op_skiff_set_tenant_start(() => {
      tenantStart();
      applyCompatibility(config.compatibilityFlags);
    });
    dispatchLoop();
  },
});
