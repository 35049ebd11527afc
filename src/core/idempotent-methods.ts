/**
 * Which calls may be sent again: the one grammar of method selectors, shared by the client's
 * `idempotent` option and the proxy's `retry.idempotentMethods`. A selector names a whole service
 * or one method, in the form a gRPC method path takes:
 *
 *   pkg.Service            every method of the service     (also "/pkg.Service/*")
 *   pkg.Service/Method     one method                       (also "/pkg.Service/Method")
 */

/** What a valid selector looks like, for config errors (the path forms above are accepted too). */
export const METHOD_SELECTOR_RULE = 'must be "package.Service" or "package.Service/Method"';

/** A valid selector. */
export const METHOD_SELECTOR = /^\/?[^/\s*]+(\/([^/\s*]+|\*))?$/;

/** The service and method (null: every method) a selector names. */
function parts(selector: string): [string, string | null] {
  const [service = '', method] = (selector.startsWith('/') ? selector.slice(1) : selector).split('/');
  return [service, method === undefined || method === '*' ? null : method];
}

/** Whether a method path ("/pkg.Service/Method") is among `selectors`. */
export function idempotentMatcher(selectors: readonly string[]): (path: string) => boolean {
  const services = new Set<string>();
  const methods = new Set<string>();
  for (const s of selectors) {
    const [service, method] = parts(s);
    if (method === null) services.add(service);
    else methods.add(`${service}/${method}`);
  }
  return (path) => {
    const slash = path.indexOf('/', 1);
    const service = slash < 0 ? path.slice(1) : path.slice(1, slash);
    return services.has(service) || methods.has(path.slice(1));
  };
}
