/** One instance of shop.Inventory: any free port, grpc.health.v1, registered in the file registry; Ctrl-C or SIGTERM drains it. */
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { FileRegistry, registrar, serve } from 'grpc-ha';
import { InventoryClient, type Stock, type StockRequest } from './inventory.js';

const counts: Record<string, number> = { apple: 12, pear: 0, plum: 7 };
const stock = (sku: string): Stock => ({ sku, count: counts[sku] ?? 0, servedBy: `pid ${process.pid}` });

const server = await serve({
  services: [
    {
      definition: InventoryClient.service,
      implementation: {
        getStock: (call: ServerUnaryCall<StockRequest, Stock>, callback: sendUnaryData<Stock>) => callback(null, stock(call.request.sku)),
        watchStock: (call: ServerWritableStream<StockRequest, Stock>) => {
          for (let i = 0; i < 3; i++) call.write(stock(call.request.sku));
          call.end();
        },
      },
    },
  ],
  register: registrar(new FileRegistry(), { service: 'inventory' }),
});
console.log(`inventory serving on ${server.address} (pid ${process.pid}), registered as file:///inventory`);
