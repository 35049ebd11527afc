/** Finds every inventory instance in the file registry and calls them: balanced, health-checked, retried. */
import { createClient } from 'grpc-ha';
import { InventoryClient, type Stock } from './inventory.js';

const inventory = createClient(InventoryClient, 'file:///inventory', { idempotent: ['shop.Inventory'] });
// Up to 5 s for a first instance to register, so the client may start before the servers.
await new Promise<void>((resolve, reject) => inventory.waitForReady(Date.now() + 5000, (error) => (error ? reject(error) : resolve())));

const getStock = (sku: string) =>
  new Promise<Stock>((resolve, reject) => inventory.getStock({ sku }, (error, stock) => (error ? reject(error) : resolve(stock!))));

const answers = new Map<string, number>();
for (let i = 0; i < 20; i++) {
  const stock = await getStock(['apple', 'pear', 'plum'][i % 3]!);
  if (i < 3) console.log(`${stock.sku}: ${stock.count} in stock (${stock.servedBy})`);
  answers.set(stock.servedBy, (answers.get(stock.servedBy) ?? 0) + 1);
}
console.log(`20 calls, answered by ${[...answers].map(([who, n]) => `${who} (${n})`).join(', ')}`);

const updates: number[] = [];
for await (const stock of inventory.watchStock({ sku: 'apple' })) updates.push((stock as Stock).count);
console.log(`watching apple: ${updates.join(', ')}`);
inventory.close();
