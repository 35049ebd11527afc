/**
 * Turns resilience options into the parts of a gRPC service config grpc-js applies itself:
 * a retry or hedging policy per idempotent method (gRFC A6) and retry throttling (the budget).
 * Pure: no channel, no grpc-js types.
 */
import { selectorParts } from '../core/idempotent-methods.js';
import type { ResilienceOptions } from './resilience-options.js';

/** The service config fields grpc-ha sets for resilience. */
export interface ResilienceServiceConfig {
  methodConfig: object[];
  retryThrottling?: { maxTokens: number; tokenRatio: number };
}

/** The method configs and retry throttling for `options`. */
export function resilienceServiceConfig(options: ResilienceOptions): ResilienceServiceConfig {
  const config: ResilienceServiceConfig = { methodConfig: [] };
  if (options.idempotent.length > 0 && (options.hedging || options.retry)) {
    const name = options.idempotent.map((m) => {
      const [service, method] = selectorParts(m);
      return method === null ? { service } : { service, method };
    });
    if (options.hedging) {
      // A6: a method has a retry policy or a hedging policy, never both; hedging is the stronger.
      config.methodConfig.push({
        name,
        hedgingPolicy: {
          maxAttempts: options.hedging.maxAttempts,
          hedgingDelay: seconds(options.hedging.delayMs),
          nonFatalStatusCodes: options.hedging.nonFatalStatusCodes,
        },
      });
    } else if (options.retry) {
      config.methodConfig.push({
        name,
        retryPolicy: {
          maxAttempts: options.retry.maxAttempts,
          initialBackoff: seconds(options.retry.initialBackoffMs),
          maxBackoff: seconds(options.retry.maxBackoffMs),
          backoffMultiplier: options.retry.backoffMultiplier,
          retryableStatusCodes: options.retry.retryableStatusCodes,
        },
      });
    }
  }
  if (options.retryBudget) config.retryThrottling = { ...options.retryBudget };
  return config;
}

/** A duration in the service config's "1.5s" form. */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3).replace(/\.?0+$/, '')}s`;
}
