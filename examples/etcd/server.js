import { EtcdRegistry, registrar, serve } from 'grpc-ha';
import { InventoryClient } from '../first-service/inventory.js';
const endpoints = (process.env.ETCDCTL_ENDPOINTS ?? '127.0.0.1:2379').split(',');
const server = await serve({
    services: [
        {
            definition: InventoryClient.service,
            implementation: {
                getStock: (call, callback) => callback(null, { sku: call.request.sku, count: 3, servedBy: `pid ${process.pid}` }),
            },
        },
    ],
    register: registrar(new EtcdRegistry({ endpoints }), { service: 'inventory' }),
});
console.log(`inventory serving on ${server.address} (pid ${process.pid}), registered in etcd ${endpoints.join(',')}`);
