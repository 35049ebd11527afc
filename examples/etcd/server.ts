/** The first service registered in etcd instead: $ETCDCTL_ENDPOINTS (default 127.0.0.1:2379), key inventory/<host:port> under a lease. */
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { EtcdRegistry, registrar, serve } from 'grpc-ha';
import { InventoryClient, type Stock, type StockRequest } from '../first-service/inventory.js';

const endpoints = (process.env.ETCDCTL_ENDPOINTS ?? '127.0.0.1:2379').split(',');
const server = await serve({
  services: [
    {
      definition: InventoryClient.service,
      implementation: {
        getStock: (call: ServerUnaryCall<StockRequest, Stock>, callback: sendUnaryData<Stock>) =>
          callback(null, { sku: call.request.sku, count: 3, servedBy: `pid ${process.pid}` }),
      },
    },
  ],
  register: registrar(new EtcdRegistry({ endpoints }), { service: 'inventory' }),
});
console.log(`inventory serving on ${server.address} (pid ${process.pid}), registered in etcd ${endpoints.join(',')}`);
