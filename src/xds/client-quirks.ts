/**
 * What a connected client cannot take, known from the Node it sends (user agent and version),
 * so one bad client library does not take down its process. One row per known defect, each with
 * the issue that documents it.
 */
import type { XdsNode } from './envoy-protos.js';

/** What the control plane leaves out for one client. */
export interface ClientLimits {
  /** Ring hash may be sent. */
  readonly ringHash: boolean;
  /** Why something is left out, for the admin API and the log; empty when nothing is. */
  readonly notes: readonly string[];
}

/** No limits. */
export const NO_LIMITS: ClientLimits = { ringHash: true, notes: [] };

/** The C-core major version in "C-core 29.0.0 Python 1.51.1", or undefined. */
function coreMajor(node: XdsNode): number | undefined {
  const m = /C-core (\d+)\./.exec(node.user_agent_version);
  return m ? Number(m[1]) : undefined;
}

/** The limits of the client that sent `node`. */
export function clientLimits(node: XdsNode | undefined): ClientLimits {
  if (!node) return NO_LIMITS;
  const core = coreMajor(node);
  // C-core 28 and 29 are gRPC 1.50 and 1.51 (Debian 12's python3-grpcio is 1.51.1): their ring
  // hash picker crashes the process on the first pick that has to start a connection
  // (grpc/grpc#31766, fixed by grpc/grpc#32012 in 1.52). Seen here: SIGSEGV on the first call.
  if (core === 28 || core === 29) {
    return {
      ringHash: false,
      notes: [`ring_hash left out: it crashes ${node.user_agent_version} (grpc/grpc#31766, fixed in gRPC 1.52); round_robin instead`],
    };
  }
  return NO_LIMITS;
}
