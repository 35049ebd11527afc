/**
 * shop.Inventory from inventory.proto, loaded at run time by proto-loader, with the types of its
 * messages and client. (`npx proto-loader-gen-types` writes such types for a larger service.)
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition } from '@grpc/grpc-js';
import type { CallOptions, ChannelCredentials, Client, ClientOptions, ClientReadableStream, ClientUnaryCall, GrpcObject, ServiceDefinition, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** A GetStock or WatchStock request. */
export interface StockRequest {
  sku: string;
}

/** How many of a product are in stock, and which instance said so. */
export interface Stock {
  sku: string;
  count: number;
  servedBy: string;
}

/** A client of shop.Inventory. */
export interface InventoryClient extends Client {
  getStock(request: StockRequest, callback: (error: ServiceError | null, stock?: Stock) => void): ClientUnaryCall;
  getStock(request: StockRequest, options: CallOptions, callback: (error: ServiceError | null, stock?: Stock) => void): ClientUnaryCall;
  watchStock(request: StockRequest): ClientReadableStream<Stock>;
}

const shop = loadPackageDefinition(loadSync(fileURLToPath(new URL('inventory.proto', import.meta.url)))).shop as GrpcObject;

/** The client class; its `service` is the definition a server serves. */
export const InventoryClient = shop.Inventory as unknown as {
  new (address: string, credentials: ChannelCredentials, options?: ClientOptions): InventoryClient;
  readonly service: ServiceDefinition;
};
