/**
 * `node --import <this file>`: records every module the process resolves, one URL a line, in
 * $GRPC_HA_MODULE_TRACE_DIR/<pid>.txt — for the test that a proxy loads only what its config
 * uses. Forked workers inherit the flag, so each process of a proxy on workers writes its own file.
 */
import { register } from 'node:module';

register(new URL('./module-trace-hooks.js', import.meta.url));
