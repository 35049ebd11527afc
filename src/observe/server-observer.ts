/**
 * grpc-ha server instances of this process (`serve()`), as /metrics and the admin API see them:
 * their lifecycle state and address. The server emits its state changes as events.
 */

/** One server instance. */
export interface ServerView {
  /** Services it serves, e.g. ["grpcha.example.v1.Echo"]. */
  readonly services: readonly string[];
  /** "host:port" it listens on. */
  readonly address: string;
  /** Its lifecycle state: serving, draining, stopped. */
  state(): string;
}

const servers = new Set<ServerView>();

/** Adds a server; returns the function that removes it. */
export function observeServer(view: ServerView): () => void {
  servers.add(view);
  return () => servers.delete(view);
}

/** Every server of this process. */
export function observedServers(): Iterable<ServerView> {
  return servers;
}
