/** Follows the inventory instances registered in etcd ($ETCDCTL_ENDPOINTS, default 127.0.0.1:2379) and calls them. */
import { createClient } from 'grpc-ha';
import { InventoryClient, type Stock } from '../first-service/inventory.js';

const inventory = createClient(InventoryClient, 'etcd:///inventory', { idempotent: ['shop.Inventory/GetStock'] });
const answers = new Map<string, number>();
for (let i = 0; i < 20; i++) {
  const stock = await new Promise<Stock>((resolve, reject) => inventory.getStock({ sku: 'apple' }, (error, s) => (error ? reject(error) : resolve(s!))));
  answers.set(stock.servedBy, (answers.get(stock.servedBy) ?? 0) + 1);
}
console.log(`20 calls through etcd, answered by ${[...answers].map(([who, n]) => `${who} (${n})`).join(', ')}`);
inventory.close();
