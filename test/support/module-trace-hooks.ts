/** Module resolution hooks of module-trace.ts (they run on the loader thread; process.pid is the process's). */
import { appendFileSync } from 'node:fs';

type Resolve = (specifier: string, context: object) => Promise<{ url: string }>;

/** Records the resolved URL, then hands it on unchanged. */
export async function resolve(specifier: string, context: object, next: Resolve): Promise<{ url: string }> {
  const result = await next(specifier, context);
  const dir = process.env.GRPC_HA_MODULE_TRACE_DIR;
  if (dir) appendFileSync(`${dir}/${process.pid}.txt`, `${result.url}\n`);
  return result;
}
