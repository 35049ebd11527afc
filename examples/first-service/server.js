import { FileRegistry, registrar, serve } from 'grpc-ha';
import { InventoryClient } from './inventory.js';
const counts = { apple: 12, pear: 0, plum: 7 };
const stock = (sku) => ({ sku, count: counts[sku] ?? 0, servedBy: `pid ${process.pid}` });
const server = await serve({
    services: [
        {
            definition: InventoryClient.service,
            implementation: {
                getStock: (call, callback) => callback(null, stock(call.request.sku)),
                watchStock: (call) => {
                    for (let i = 0; i < 3; i++)
                        call.write(stock(call.request.sku));
                    call.end();
                },
            },
        },
    ],
    register: registrar(new FileRegistry(), { service: 'inventory' }),
});
console.log(`inventory serving on ${server.address} (pid ${process.pid}), registered as file:///inventory`);
