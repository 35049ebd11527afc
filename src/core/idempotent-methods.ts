/**
 * Which calls may be sent again: the one grammar of method selectors, shared by the client's
 * `idempotent` option and the proxy's `retry.idempotentMethods`. A selector names a whole service
 * or one method, in the form a gRPC method path takes:
 *
 *   pkg.Service            every method of the service     (also "/pkg.Service/*")
 *   pkg.Service/Method     one method                       (also "/pkg.Service/Method")
 */
import { didYouMean, listChoices } from './did-you-mean.js';

/** What a valid selector looks like, for config errors (the path forms above are accepted too). */
export const METHOD_SELECTOR_RULE = 'must be "package.Service" or "package.Service/Method"';

/** A valid selector. */
export const METHOD_SELECTOR = /^\/?[^/\s*]+(\/([^/\s*]+|\*))?$/;

/** The service and method (null: every method) a selector names. */
export function selectorParts(selector: string): [string, string | null] {
  const [service = '', method] = (selector.startsWith('/') ? selector.slice(1) : selector).split('/');
  return [service, method === undefined || method === '*' ? null : method];
}

/** Whether a method path ("/pkg.Service/Method") is among `selectors`. */
export function idempotentMatcher(selectors: readonly string[]): (path: string) => boolean {
  const services = new Set<string>();
  const methods = new Set<string>();
  for (const s of selectors) {
    const [service, method] = selectorParts(s);
    if (method === null) services.add(service);
    else methods.add(`${service}/${method}`);
  }
  return (path) => {
    const slash = path.indexOf('/', 1);
    const service = slash < 0 ? path.slice(1) : path.slice(1, slash);
    return services.has(service) || methods.has(path.slice(1));
  };
}

/**
 * Checks selectors against the methods a client can call (their paths, "/pkg.Service/Method"):
 * the message for the first one that names no service or method among them — with the closest
 * valid selector and the list — or null when all do. A selector that matches nothing would
 * silently leave retries off.
 */
export function unmatchedSelector(selectors: readonly string[], methodPaths: readonly string[]): string | null {
  const services = new Map<string, string[]>();
  for (const p of methodPaths) {
    const [service, method] = selectorParts(p);
    if (method !== null) services.set(service, [...(services.get(service) ?? []), method]);
  }
  const valid = [...services].flatMap(([service, methods]) => [service, ...methods.map((m) => `${service}/${m}`)]);
  for (const [i, selector] of selectors.entries()) {
    const [service, method] = selectorParts(selector);
    const methods = services.get(service);
    if (methods && (method === null || methods.includes(method))) continue;
    const what = methods ? `no method ${method} in ${service}` : `no service ${service}`;
    return `idempotent.${i} ${JSON.stringify(selector)} matches ${what}${didYouMean(selector, valid)} (valid: ${listChoices(valid)})`;
  }
  return null;
}
