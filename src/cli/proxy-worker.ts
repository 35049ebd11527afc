/**
 * The entry point of a proxy worker process, forked by the primary of `grpc-ha proxy --workers N`
 * (src/proxy/primary.ts); not a command to run by hand. It loads nothing but the worker.
 */
import { runProxyWorker } from '../proxy/worker.js';

runProxyWorker();
