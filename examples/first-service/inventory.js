/**
 * shop.Inventory from inventory.proto, loaded at run time by proto-loader, with the types of its
 * messages and client. (`npx proto-loader-gen-types` writes such types for a larger service.)
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
const shop = loadPackageDefinition(loadSync(fileURLToPath(new URL('inventory.proto', import.meta.url)))).shop;
/** The client class; its `service` is the definition a server serves. */
export const InventoryClient = shop.Inventory;
