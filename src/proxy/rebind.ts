/**
 * Moving a listening socket in a reload without refusing a client: the new one binds before the
 * old one stops accepting. The same address cannot be bound twice (Node 20 has no SO_REUSEPORT):
 * then the old one stops accepting first and the new one binds in the same tick, before clients
 * that got GOAWAY reconnect; if that bind fails, one like the old is bound again so the proxy
 * keeps serving. Used for the listener of a proxy of one process and the primary's accepting socket.
 */
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';

/** A listening thing: binds, and is closed by its owner. */
export interface Bindable {
  listen(): Promise<number>;
}

/** What {@link rebind} needs to know and do. */
export interface RebindSteps<L extends Bindable> {
  /** Whether the new address is the one bound now. */
  readonly sameAddress: boolean;
  /** `host:port` of the new address, for the error. */
  readonly address: string;
  /** A listener for the new config. */
  fresh(): L;
  /** One like the current, to bind again when the new one cannot bind on the same address. */
  again(): L;
  /** Stops the current one accepting (it drains its connections by itself). */
  retire(): void;
  /** Closes a listener that never served. */
  discard(listener: L): Promise<void>;
}

/** How a rebind ended: moved, or refused with the old listener still serving, or with one like it bound again. */
export type RebindResult<L> =
  | { readonly t: 'moved'; readonly listener: L; readonly port: number }
  | { readonly t: 'kept'; readonly error: GrpcHaError }
  | { readonly t: 'restored'; readonly listener: L; readonly port: number; readonly error: GrpcHaError };

/** Binds the replacement; see the module comment. A refused bind's error is INVALID_CONFIG naming the address. */
export async function rebind<L extends Bindable>(steps: RebindSteps<L>): Promise<RebindResult<L>> {
  const fresh = steps.fresh();
  if (steps.sameAddress) steps.retire();
  try {
    const port = await fresh.listen();
    if (!steps.sameAddress) steps.retire();
    return { t: 'moved', listener: fresh, port };
  } catch (cause) {
    await steps.discard(fresh).catch(() => {});
    const error = new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `cannot listen on ${steps.address}: ${(cause as Error).message}`, { cause });
    if (!steps.sameAddress) return { t: 'kept', error };
    const again = steps.again();
    return { t: 'restored', listener: again, port: await again.listen(), error };
  }
}
